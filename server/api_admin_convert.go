package server

import (
	"fmt"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ecsauthz/ecsauthz/evaluator"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
)

// Conversions between the admin API's messages and store objects. A
// FromProto function rejects a missing message with INVALID_ARGUMENT. The
// fields are checked later, in adminService.validate.

func missingMessage(field string) error {
	return status.Errorf(codes.InvalidArgument, "invalid request: %s: missing", field)
}

func policyFromProto(p *ecsauthzv1.Policy) (store.Object, error) {
	if p == nil {
		return store.Object{}, missingMessage("policy")
	}
	return store.Object{Policy: &evaluator.Policy{
		Name:        p.GetName(),
		Description: p.GetDescription(),
		Document:    []byte(p.GetDocument()),
		Source:      fmt.Sprintf("admin API policy %q", p.GetName()),
	}}, nil
}

func policyToProto(obj store.Object) *ecsauthzv1.Policy {
	p := obj.Policy
	return &ecsauthzv1.Policy{Name: p.Name, Description: p.Description, Document: string(p.Document), Version: obj.Version}
}

func userFromProto(u *ecsauthzv1.User) (store.Object, error) {
	if u == nil {
		return store.Object{}, missingMessage("user")
	}
	return store.Object{User: &evaluator.User{
		ID:         u.GetId(),
		Name:       u.GetName(),
		DomainID:   u.GetDomainId(),
		DomainName: u.GetDomainName(),
		Root:       u.GetRoot(),
	}}, nil
}

func userToProto(obj store.Object) *ecsauthzv1.User {
	u := obj.User
	return &ecsauthzv1.User{Id: u.ID, Name: u.Name, DomainId: u.DomainID, DomainName: u.DomainName, Root: u.Root, Version: obj.Version}
}

func groupFromProto(g *ecsauthzv1.Group) (store.Object, error) {
	if g == nil {
		return store.Object{}, missingMessage("group")
	}
	return store.Object{Group: &evaluator.Group{ID: g.GetId(), Name: g.GetName(), DomainID: g.GetDomainId()}}, nil
}

func groupToProto(obj store.Object) *ecsauthzv1.Group {
	g := obj.Group
	return &ecsauthzv1.Group{Id: g.ID, Name: g.Name, DomainId: g.DomainID, Version: obj.Version}
}

func membershipFromProto(m *ecsauthzv1.Membership) (store.Object, error) {
	if m == nil {
		return store.Object{}, missingMessage("membership")
	}
	return store.Object{Membership: &evaluator.Membership{GroupID: m.GetGroupId(), UserID: m.GetUserId()}}, nil
}

func membershipToProto(obj store.Object) *ecsauthzv1.Membership {
	m := obj.Membership
	return &ecsauthzv1.Membership{GroupId: m.GroupID, UserId: m.UserID, Version: obj.Version}
}

// grantKeyFields is implemented by the grant messages that name one grant.
type grantKeyFields interface {
	GetPolicy() string
	GetGroupId() string
	GetUserId() string
	GetScope() ecsauthzv1.GrantScope
	GetScopeId() string
}

func grantFromFields(g grantKeyFields) *evaluator.Grant {
	scope, _ := scopeFromProto(g.GetScope())
	return &evaluator.Grant{
		Policy:  g.GetPolicy(),
		GroupID: g.GetGroupId(),
		UserID:  g.GetUserId(),
		Scope:   scope,
		ScopeID: g.GetScopeId(),
	}
}

func grantKey(g grantKeyFields) string {
	return store.GrantKey(*grantFromFields(g))
}

func grantFromProto(g *ecsauthzv1.Grant) (store.Object, error) {
	if g == nil {
		return store.Object{}, missingMessage("grant")
	}
	grant := grantFromFields(g)
	grant.Source = "admin API grant " + store.GrantKey(*grant)
	return store.Object{Grant: grant}, nil
}

func grantToProto(obj store.Object) *ecsauthzv1.Grant {
	g := obj.Grant
	return &ecsauthzv1.Grant{
		Policy:  g.Policy,
		GroupId: g.GroupID,
		UserId:  g.UserID,
		Scope:   apiScopes[g.Scope],
		ScopeId: g.ScopeID,
		Version: obj.Version,
	}
}

func serverFromProto(s *ecsauthzv1.Server) (store.Object, error) {
	if s == nil {
		return store.Object{}, missingMessage("server")
	}
	ep := s.GetEnterpriseProjectId()
	if ep == "" {
		ep = store.DefaultEnterpriseProject
	}
	return store.Object{Server: &evaluator.Server{
		ID:                  s.GetId(),
		ProjectID:           s.GetProjectId(),
		EnterpriseProjectID: ep,
		Tags:                s.GetTags(),
	}}, nil
}

func serverToProto(obj store.Object) *ecsauthzv1.Server {
	s := obj.Server
	return &ecsauthzv1.Server{Id: s.ID, ProjectId: s.ProjectID, EnterpriseProjectId: s.EnterpriseProjectID, Tags: s.Tags, Version: obj.Version}
}
