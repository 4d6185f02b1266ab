package server

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/ecsauthz/ecsauthz/evaluator"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
)

// Page sizes of the admin List calls.
const (
	adminDefaultPageSize = 100
	adminMaxPageSize     = 1000
)

// adminService implements ecsauthz.v1.PolicyAdminService over a policy
// store. Authentication happens in the interceptor that [NewAdminServer]
// installs, before any method here runs.
type adminService struct {
	ecsauthzv1.UnimplementedPolicyAdminServiceServer

	store          store.Store
	validatePolicy func(name string, doc []byte) error
	logger         *slog.Logger
}

var _ ecsauthzv1.PolicyAdminServiceServer = (*adminService)(nil)

// writer returns the store as a Writer, or FAILED_PRECONDITION for a
// read-only backend such as the file store.
func (s *adminService) writer() (store.Writer, error) {
	w, err := store.AsWriter(s.store)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition,
			"the policy store is read-only (file backend): configure the postgres or etcd backend to change policies through the admin API")
	}
	return w, nil
}

// put validates obj and writes it with the expected version.
func (s *adminService) put(ctx context.Context, obj store.Object, expected int64) (int64, error) {
	w, err := s.writer()
	if err != nil {
		return 0, err
	}
	if err := s.validate(obj); err != nil {
		return 0, err
	}
	if obj.Grant != nil {
		if err := s.checkGrantPolicy(ctx, w, obj.Grant.Policy); err != nil {
			return 0, err
		}
	}
	version, err := w.Put(ctx, obj, expected)
	if err != nil {
		return 0, s.storeError(ctx, "put", obj.Kind(), obj.Key(), err)
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "admin write",
		slog.String("operation", "put"), slog.String("kind", string(obj.Kind())),
		slog.String("key", obj.Key()), slog.Int64("version", version))
	return version, nil
}

// checkGrantPolicy rejects a grant of a policy that is neither built in nor
// stored, because the evaluator rejects such a grant when it compiles the
// store, and every later change would then fail to load until the grant is
// removed.
//
// NOTE: the check and the write are two store calls, so a policy deleted
// between them leaves a grant that names a missing policy. The store
// rejects the deletion of a policy only once a grant names it.
func (s *adminService) checkGrantPolicy(ctx context.Context, w store.Writer, name string) error {
	if evaluator.IsBuiltinPolicy(name) {
		return nil
	}
	_, err := w.Get(ctx, store.KindPolicy, name)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		var v fieldViolations
		v.add("grant.policy", fmt.Sprintf("policy %q not found: put the policy first or name a built-in policy", name))
		return v.err()
	default:
		return s.storeError(ctx, "get", store.KindPolicy, name, err)
	}
}

func (s *adminService) get(ctx context.Context, kind store.Kind, key string) (store.Object, error) {
	w, err := s.writer()
	if err != nil {
		return store.Object{}, err
	}
	if key == "" {
		return store.Object{}, status.Errorf(codes.InvalidArgument, "invalid request: %s key is missing", kind)
	}
	obj, err := w.Get(ctx, kind, key)
	if err != nil {
		return store.Object{}, s.storeError(ctx, "get", kind, key, err)
	}
	return obj, nil
}

// list returns one page of the objects of kind that keep accepts, in key
// order, and the token of the next page. The token is the last key of the
// page, so a page stays correct when objects are added or removed between
// calls.
func (s *adminService) list(ctx context.Context, kind store.Kind, pageSize int32, pageToken string, keep func(store.Object) bool) ([]store.Object, string, error) {
	w, err := s.writer()
	if err != nil {
		return nil, "", err
	}
	size, after, err := parsePage(pageSize, pageToken)
	if err != nil {
		return nil, "", err
	}
	objects, err := w.List(ctx, kind)
	if err != nil {
		return nil, "", s.storeError(ctx, "list", kind, "", err)
	}

	var page []store.Object
	for _, obj := range objects {
		if (pageToken != "" && obj.Key() <= after) || (keep != nil && !keep(obj)) {
			continue
		}
		if len(page) == size {
			last := page[len(page)-1].Key()
			return page, base64.RawURLEncoding.EncodeToString([]byte(last)), nil
		}
		page = append(page, obj)
	}
	return page, "", nil
}

func parsePage(pageSize int32, pageToken string) (int, string, error) {
	var violations fieldViolations
	size := int(pageSize)
	switch {
	case size == 0:
		size = adminDefaultPageSize
	case size < 0 || size > adminMaxPageSize:
		violations.add("page_size", fmt.Sprintf("%d is out of range: use 1 to %d, or 0 for %d", pageSize, adminMaxPageSize, adminDefaultPageSize))
	}
	after, err := base64.RawURLEncoding.DecodeString(pageToken)
	if err != nil {
		violations.add("page_token", "invalid: pass the next_page_token of a previous response unchanged")
	}
	return size, string(after), violations.err()
}

func (s *adminService) delete(ctx context.Context, kind store.Kind, key string, expected int64) error {
	w, err := s.writer()
	if err != nil {
		return err
	}
	if key == "" {
		return status.Errorf(codes.InvalidArgument, "invalid request: %s key is missing", kind)
	}
	if expected == 0 {
		expected = store.AnyVersion
	}
	if err := w.Delete(ctx, kind, key, expected); err != nil {
		return s.storeError(ctx, "delete", kind, key, err)
	}
	s.logger.LogAttrs(ctx, slog.LevelInfo, "admin write",
		slog.String("operation", "delete"), slog.String("kind", string(kind)), slog.String("key", key))
	return nil
}

// storeError maps a store error to a gRPC status. Errors outside the store's
// sentinel set are logged and returned as INTERNAL without detail.
func (s *adminService) storeError(ctx context.Context, operation string, kind store.Kind, key string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return status.Errorf(codes.NotFound, "%s %q not found", kind, key)
	case errors.Is(err, store.ErrVersionConflict):
		return status.Errorf(codes.Aborted, "%s %q: version conflict: read the current version and retry", kind, key)
	case errors.Is(err, store.ErrInUse):
		return status.Errorf(codes.FailedPrecondition, "%s %q is in use: %v", kind, key, err)
	case errors.Is(err, store.ErrReadOnly):
		return status.Errorf(codes.FailedPrecondition, "the policy store is read-only: %v", err)
	case errors.Is(err, store.ErrInvalid):
		return problemsError(string(kind), err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return status.FromContextError(err).Err()
	}
	s.logger.LogAttrs(ctx, slog.LevelError, "admin store operation failed",
		slog.String("operation", operation), slog.String("kind", string(kind)),
		slog.String("key", key), slog.String("error", err.Error()))
	return status.Errorf(codes.Internal, "failed to %s %s %q: store error (see the server log)", operation, kind, key)
}

// problemsError returns an INVALID_ARGUMENT status that lists every problem
// joined in err, in the message and as google.rpc.BadRequest details.
func problemsError(field string, err error) error {
	var violations fieldViolations
	for _, problem := range splitProblems(err) {
		violations.add(field, problem)
	}
	return violations.err()
}

// splitProblems returns the messages of the errors joined in err, one per
// problem.
func splitProblems(err error) []string {
	var list []string
	var walk func(error)
	walk = func(e error) {
		if joined, ok := e.(interface{ Unwrap() []error }); ok {
			for _, inner := range joined.Unwrap() {
				walk(inner)
			}
			return
		}
		for _, line := range strings.Split(e.Error(), "\n") {
			if line != "" {
				list = append(list, line)
			}
		}
	}
	walk(err)
	return list
}

// validate checks an object before it is written and returns every
// problem at once.
func (s *adminService) validate(obj store.Object) error {
	var v fieldViolations
	switch {
	case obj.Policy != nil:
		p := obj.Policy
		if p.Name == "" {
			v.add("policy.name", "missing")
		}
		if evaluator.IsBuiltinPolicy(p.Name) {
			v.add("policy.name", fmt.Sprintf("%q is a built-in system policy name and cannot be replaced", p.Name))
		}
		if err := s.validatePolicy(p.Name, p.Document); err != nil {
			for _, problem := range splitProblems(err) {
				v.add("policy.document", problem)
			}
		}
	case obj.User != nil:
		requireField(&v, "user.id", obj.User.ID)
		requireField(&v, "user.name", obj.User.Name)
		requireField(&v, "user.domain_id", obj.User.DomainID)
	case obj.Group != nil:
		requireField(&v, "group.id", obj.Group.ID)
		requireField(&v, "group.name", obj.Group.Name)
		requireField(&v, "group.domain_id", obj.Group.DomainID)
	case obj.Membership != nil:
		requireField(&v, "membership.group_id", obj.Membership.GroupID)
		requireField(&v, "membership.user_id", obj.Membership.UserID)
	case obj.Grant != nil:
		validateGrantFields(&v, obj.Grant)
	case obj.Server != nil:
		requireField(&v, "server.id", obj.Server.ID)
		requireField(&v, "server.project_id", obj.Server.ProjectID)
	}
	return v.err()
}

func requireField(v *fieldViolations, field, value string) {
	if value == "" {
		v.add(field, "missing")
	}
}

func validateGrantFields(v *fieldViolations, g *evaluator.Grant) {
	requireField(v, "grant.policy", g.Policy)
	if (g.GroupID == "") == (g.UserID == "") {
		v.add("grant.group_id", "set exactly one of group_id and user_id")
	}
	switch g.Scope {
	case evaluator.ScopeProject, evaluator.ScopeEnterpriseProject:
		requireField(v, "grant.scope_id", g.ScopeID)
	case evaluator.ScopeDomain, evaluator.ScopeGlobal:
		if g.ScopeID != "" {
			v.add("grant.scope_id", "must be empty for domain and global scope")
		}
	default:
		v.add("grant.scope", "missing: set GRANT_SCOPE_DOMAIN, GRANT_SCOPE_PROJECT, GRANT_SCOPE_ENTERPRISE_PROJECT or GRANT_SCOPE_GLOBAL")
	}
}
