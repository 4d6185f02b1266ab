package server

import (
	"context"

	"github.com/ecsauthz/ecsauthz/evaluator"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
)

// The PolicyAdminService methods. Each converts between the proto message
// and the store object and leaves the work to the generic helpers of
// adminService.

// PutPolicy validates and writes a policy.
func (s *adminService) PutPolicy(ctx context.Context, req *ecsauthzv1.PutPolicyRequest) (*ecsauthzv1.PutPolicyResponse, error) {
	obj, err := policyFromProto(req.GetPolicy())
	if err != nil {
		return nil, err
	}
	version, err := s.put(ctx, obj, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	obj.Version = version
	return &ecsauthzv1.PutPolicyResponse{Policy: policyToProto(obj)}, nil
}

// GetPolicy reads a policy.
func (s *adminService) GetPolicy(ctx context.Context, req *ecsauthzv1.GetPolicyRequest) (*ecsauthzv1.GetPolicyResponse, error) {
	obj, err := s.get(ctx, store.KindPolicy, req.GetName())
	if err != nil {
		return nil, err
	}
	return &ecsauthzv1.GetPolicyResponse{Policy: policyToProto(obj)}, nil
}

// ListPolicies returns one page of policies.
func (s *adminService) ListPolicies(ctx context.Context, req *ecsauthzv1.ListPoliciesRequest) (*ecsauthzv1.ListPoliciesResponse, error) {
	page, next, err := s.list(ctx, store.KindPolicy, req.GetPageSize(), req.GetPageToken(), nil)
	if err != nil {
		return nil, err
	}
	resp := &ecsauthzv1.ListPoliciesResponse{NextPageToken: next}
	for _, obj := range page {
		resp.Policies = append(resp.Policies, policyToProto(obj))
	}
	return resp, nil
}

// DeletePolicy deletes a policy. It fails with FAILED_PRECONDITION while a
// grant names the policy.
func (s *adminService) DeletePolicy(ctx context.Context, req *ecsauthzv1.DeletePolicyRequest) (*ecsauthzv1.DeletePolicyResponse, error) {
	if err := s.delete(ctx, store.KindPolicy, req.GetName(), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &ecsauthzv1.DeletePolicyResponse{}, nil
}

// PutUser validates and writes a user.
func (s *adminService) PutUser(ctx context.Context, req *ecsauthzv1.PutUserRequest) (*ecsauthzv1.PutUserResponse, error) {
	obj, err := userFromProto(req.GetUser())
	if err != nil {
		return nil, err
	}
	version, err := s.put(ctx, obj, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	obj.Version = version
	return &ecsauthzv1.PutUserResponse{User: userToProto(obj)}, nil
}

// GetUser reads a user.
func (s *adminService) GetUser(ctx context.Context, req *ecsauthzv1.GetUserRequest) (*ecsauthzv1.GetUserResponse, error) {
	obj, err := s.get(ctx, store.KindUser, req.GetId())
	if err != nil {
		return nil, err
	}
	return &ecsauthzv1.GetUserResponse{User: userToProto(obj)}, nil
}

// ListUsers returns one page of users.
func (s *adminService) ListUsers(ctx context.Context, req *ecsauthzv1.ListUsersRequest) (*ecsauthzv1.ListUsersResponse, error) {
	page, next, err := s.list(ctx, store.KindUser, req.GetPageSize(), req.GetPageToken(), nil)
	if err != nil {
		return nil, err
	}
	resp := &ecsauthzv1.ListUsersResponse{NextPageToken: next}
	for _, obj := range page {
		resp.Users = append(resp.Users, userToProto(obj))
	}
	return resp, nil
}

// DeleteUser deletes a user. The store also deletes its memberships and
// grants.
func (s *adminService) DeleteUser(ctx context.Context, req *ecsauthzv1.DeleteUserRequest) (*ecsauthzv1.DeleteUserResponse, error) {
	if err := s.delete(ctx, store.KindUser, req.GetId(), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &ecsauthzv1.DeleteUserResponse{}, nil
}

// PutGroup validates and writes a group.
func (s *adminService) PutGroup(ctx context.Context, req *ecsauthzv1.PutGroupRequest) (*ecsauthzv1.PutGroupResponse, error) {
	obj, err := groupFromProto(req.GetGroup())
	if err != nil {
		return nil, err
	}
	version, err := s.put(ctx, obj, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	obj.Version = version
	return &ecsauthzv1.PutGroupResponse{Group: groupToProto(obj)}, nil
}

// GetGroup reads a group.
func (s *adminService) GetGroup(ctx context.Context, req *ecsauthzv1.GetGroupRequest) (*ecsauthzv1.GetGroupResponse, error) {
	obj, err := s.get(ctx, store.KindGroup, req.GetId())
	if err != nil {
		return nil, err
	}
	return &ecsauthzv1.GetGroupResponse{Group: groupToProto(obj)}, nil
}

// ListGroups returns one page of groups.
func (s *adminService) ListGroups(ctx context.Context, req *ecsauthzv1.ListGroupsRequest) (*ecsauthzv1.ListGroupsResponse, error) {
	page, next, err := s.list(ctx, store.KindGroup, req.GetPageSize(), req.GetPageToken(), nil)
	if err != nil {
		return nil, err
	}
	resp := &ecsauthzv1.ListGroupsResponse{NextPageToken: next}
	for _, obj := range page {
		resp.Groups = append(resp.Groups, groupToProto(obj))
	}
	return resp, nil
}

// DeleteGroup deletes a group. The store also deletes its memberships and
// grants.
func (s *adminService) DeleteGroup(ctx context.Context, req *ecsauthzv1.DeleteGroupRequest) (*ecsauthzv1.DeleteGroupResponse, error) {
	if err := s.delete(ctx, store.KindGroup, req.GetId(), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &ecsauthzv1.DeleteGroupResponse{}, nil
}

// PutMembership validates and writes a membership.
func (s *adminService) PutMembership(ctx context.Context, req *ecsauthzv1.PutMembershipRequest) (*ecsauthzv1.PutMembershipResponse, error) {
	obj, err := membershipFromProto(req.GetMembership())
	if err != nil {
		return nil, err
	}
	version, err := s.put(ctx, obj, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	obj.Version = version
	return &ecsauthzv1.PutMembershipResponse{Membership: membershipToProto(obj)}, nil
}

// GetMembership reads a membership.
func (s *adminService) GetMembership(ctx context.Context, req *ecsauthzv1.GetMembershipRequest) (*ecsauthzv1.GetMembershipResponse, error) {
	obj, err := s.get(ctx, store.KindMembership, store.MembershipKey(evaluator.Membership{GroupID: req.GetGroupId(), UserID: req.GetUserId()}))
	if err != nil {
		return nil, err
	}
	return &ecsauthzv1.GetMembershipResponse{Membership: membershipToProto(obj)}, nil
}

// ListMemberships returns one page of memberships.
func (s *adminService) ListMemberships(ctx context.Context, req *ecsauthzv1.ListMembershipsRequest) (*ecsauthzv1.ListMembershipsResponse, error) {
	page, next, err := s.list(ctx, store.KindMembership, req.GetPageSize(), req.GetPageToken(), func(o store.Object) bool {
		return matchFilter(req.GetGroupId(), o.Membership.GroupID) && matchFilter(req.GetUserId(), o.Membership.UserID)
	})
	if err != nil {
		return nil, err
	}
	resp := &ecsauthzv1.ListMembershipsResponse{NextPageToken: next}
	for _, obj := range page {
		resp.Memberships = append(resp.Memberships, membershipToProto(obj))
	}
	return resp, nil
}

// DeleteMembership deletes a membership.
func (s *adminService) DeleteMembership(ctx context.Context, req *ecsauthzv1.DeleteMembershipRequest) (*ecsauthzv1.DeleteMembershipResponse, error) {
	if err := s.delete(ctx, store.KindMembership, store.MembershipKey(evaluator.Membership{GroupID: req.GetGroupId(), UserID: req.GetUserId()}), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &ecsauthzv1.DeleteMembershipResponse{}, nil
}

// PutGrant validates and writes a grant.
func (s *adminService) PutGrant(ctx context.Context, req *ecsauthzv1.PutGrantRequest) (*ecsauthzv1.PutGrantResponse, error) {
	obj, err := grantFromProto(req.GetGrant())
	if err != nil {
		return nil, err
	}
	version, err := s.put(ctx, obj, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	obj.Version = version
	return &ecsauthzv1.PutGrantResponse{Grant: grantToProto(obj)}, nil
}

// GetGrant reads a grant.
func (s *adminService) GetGrant(ctx context.Context, req *ecsauthzv1.GetGrantRequest) (*ecsauthzv1.GetGrantResponse, error) {
	obj, err := s.get(ctx, store.KindGrant, grantKey(req))
	if err != nil {
		return nil, err
	}
	return &ecsauthzv1.GetGrantResponse{Grant: grantToProto(obj)}, nil
}

// ListGrants returns one page of grants.
func (s *adminService) ListGrants(ctx context.Context, req *ecsauthzv1.ListGrantsRequest) (*ecsauthzv1.ListGrantsResponse, error) {
	page, next, err := s.list(ctx, store.KindGrant, req.GetPageSize(), req.GetPageToken(), func(o store.Object) bool {
		return matchFilter(req.GetGroupId(), o.Grant.GroupID) && matchFilter(req.GetUserId(), o.Grant.UserID) && matchFilter(req.GetPolicy(), o.Grant.Policy)
	})
	if err != nil {
		return nil, err
	}
	resp := &ecsauthzv1.ListGrantsResponse{NextPageToken: next}
	for _, obj := range page {
		resp.Grants = append(resp.Grants, grantToProto(obj))
	}
	return resp, nil
}

// DeleteGrant deletes a grant.
func (s *adminService) DeleteGrant(ctx context.Context, req *ecsauthzv1.DeleteGrantRequest) (*ecsauthzv1.DeleteGrantResponse, error) {
	if err := s.delete(ctx, store.KindGrant, grantKey(req), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &ecsauthzv1.DeleteGrantResponse{}, nil
}

// PutServer validates and writes a server.
func (s *adminService) PutServer(ctx context.Context, req *ecsauthzv1.PutServerRequest) (*ecsauthzv1.PutServerResponse, error) {
	obj, err := serverFromProto(req.GetServer())
	if err != nil {
		return nil, err
	}
	version, err := s.put(ctx, obj, req.GetExpectedVersion())
	if err != nil {
		return nil, err
	}
	obj.Version = version
	return &ecsauthzv1.PutServerResponse{Server: serverToProto(obj)}, nil
}

// GetServer reads a server.
func (s *adminService) GetServer(ctx context.Context, req *ecsauthzv1.GetServerRequest) (*ecsauthzv1.GetServerResponse, error) {
	obj, err := s.get(ctx, store.KindServer, req.GetId())
	if err != nil {
		return nil, err
	}
	return &ecsauthzv1.GetServerResponse{Server: serverToProto(obj)}, nil
}

// ListServers returns one page of servers.
func (s *adminService) ListServers(ctx context.Context, req *ecsauthzv1.ListServersRequest) (*ecsauthzv1.ListServersResponse, error) {
	page, next, err := s.list(ctx, store.KindServer, req.GetPageSize(), req.GetPageToken(), nil)
	if err != nil {
		return nil, err
	}
	resp := &ecsauthzv1.ListServersResponse{NextPageToken: next}
	for _, obj := range page {
		resp.Servers = append(resp.Servers, serverToProto(obj))
	}
	return resp, nil
}

// DeleteServer deletes a server.
func (s *adminService) DeleteServer(ctx context.Context, req *ecsauthzv1.DeleteServerRequest) (*ecsauthzv1.DeleteServerResponse, error) {
	if err := s.delete(ctx, store.KindServer, req.GetId(), req.GetExpectedVersion()); err != nil {
		return nil, err
	}
	return &ecsauthzv1.DeleteServerResponse{}, nil
}

func matchFilter(filter, value string) bool { return filter == "" || filter == value }
