package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
)

// APICatalog is the part of [*catalog.Catalog] that the direct API uses.
type APICatalog interface {
	Resolve(req *catalog.Request, res *catalog.Resolution) error
	Routes() []*catalog.Route
	LookupAction(name string) *catalog.Action
}

// APIDecider decides requests against a compiled policy set, for catalog
// routes and for plain action lists. [*evaluator.Engine] implements it.
type APIDecider interface {
	Decider
	DecideActions(req *evaluator.ActionsRequest, d *evaluator.Decision)
}

// APIOptions are the components behind [API]. Every field except Logger
// and Now is required.
type APIOptions struct {
	Catalog  APICatalog
	Identity Identifier
	// Policies returns the current policy engine and whether it may be used,
	// as in [CheckerOptions]. It returns false, never a nil engine with
	// true, when no engine is usable.
	Policies func() (APIDecider, bool)
	// Snapshot returns the current policy store snapshot, or nil before the
	// first load. The API looks up users named by id in it.
	Snapshot func() *store.Snapshot
	// CheckHTTP runs CheckHttp requests, normally [Checker.CheckHTTP].
	CheckHTTP CheckHTTPFunc
	// Region is the region name used in resource URNs, e.g. "region-1".
	Region string
	// Logger receives one Debug record per decision. Nil discards them.
	Logger *slog.Logger
	// Now returns the decision time when a request sets none. Nil means
	// time.Now.
	Now func() time.Time
}

// API implements ecsauthz.v1.AuthorizationService, the direct gRPC API for
// callers other than Envoy. It is safe for concurrent use.
type API struct {
	ecsauthzv1.UnimplementedAuthorizationServiceServer

	catalog   APICatalog
	identity  Identifier
	policies  func() (APIDecider, bool)
	snapshot  func() *store.Snapshot
	checkHTTP CheckHTTPFunc
	region    string
	logger    *slog.Logger
	now       func() time.Time
	ids       *decisionIDs
	users     atomic.Pointer[apiUserIndex]
}

var _ ecsauthzv1.AuthorizationServiceServer = (*API)(nil)

// NewAPI returns an API over the given components, or an error naming every
// missing required option.
func NewAPI(opts APIOptions) (*API, error) {
	var missing []error
	if opts.Catalog == nil {
		missing = append(missing, errors.New("catalog is missing"))
	}
	if opts.Identity == nil {
		missing = append(missing, errors.New("identity resolver is missing"))
	}
	if opts.Policies == nil {
		missing = append(missing, errors.New("policy source is missing"))
	}
	if opts.Snapshot == nil {
		missing = append(missing, errors.New("snapshot source is missing"))
	}
	if opts.CheckHTTP == nil {
		missing = append(missing, errors.New("CheckHTTP function is missing"))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("failed to create API: %w", errors.Join(missing...))
	}

	ids, err := newDecisionIDs()
	if err != nil {
		return nil, fmt.Errorf("failed to create API: %w", err)
	}
	a := &API{
		catalog:   opts.Catalog,
		identity:  opts.Identity,
		policies:  opts.Policies,
		snapshot:  opts.Snapshot,
		checkHTTP: opts.CheckHTTP,
		region:    opts.Region,
		logger:    opts.Logger,
		now:       opts.Now,
		ids:       ids,
	}
	if a.logger == nil {
		a.logger = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

// Register registers the AuthorizationService on s.
func (a *API) Register(s grpc.ServiceRegistrar) {
	ecsauthzv1.RegisterAuthorizationServiceServer(s, a)
}

// apiUserIndex maps user ids to users for one snapshot.
type apiUserIndex struct {
	snapshot *store.Snapshot
	byID     map[string]*evaluator.User
}

// lookupUser returns the user with the given id from the current snapshot.
// The index is rebuilt once per snapshot; a concurrent rebuild is harmless
// because both results are equal.
func (a *API) lookupUser(id string) (*evaluator.User, bool) {
	snap := a.snapshot()
	if snap == nil || snap.Data == nil {
		return nil, false
	}

	index := a.users.Load()
	if index == nil || index.snapshot != snap {
		index = &apiUserIndex{snapshot: snap, byID: make(map[string]*evaluator.User, len(snap.Data.Users))}
		for i := range snap.Data.Users {
			index.byID[snap.Data.Users[i].ID] = &snap.Data.Users[i]
		}
		a.users.Store(index)
	}
	user, ok := index.byID[id]
	return user, ok
}

// logDecision writes one Debug record for a decision of the direct API.
// Tokens are never logged.
func (a *API) logDecision(ctx context.Context, method, userID string, d *evaluator.Decision, decisionID string) {
	if !a.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	a.logger.LogAttrs(ctx, slog.LevelDebug, "api decision",
		slog.String("rpc", method),
		slog.String("decision_id", decisionID),
		slog.String("user_id", userID),
		slog.Bool("allowed", d.Allowed),
		slog.String("reason", string(d.Reason)),
		slog.String("action", d.Action),
		slog.String("policy", d.Policy),
		slog.Int("statement", d.Statement),
	)
}
