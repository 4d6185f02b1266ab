package server

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	"github.com/ecsauthz/ecsauthz/store"
)

// Offline is a checker over one snapshot of the policy store, loaded once
// and never reloaded, for command-line checks and tests.
type Offline struct {
	Catalog *catalog.Catalog
	Data    *evaluator.Data
	Engine  *evaluator.Engine
	Checker *Checker

	identity *identity.Resolver
}

// NewOffline loads the catalog, the identity configuration and one snapshot
// of the policy store described by conf, and compiles it.
func NewOffline(ctx context.Context, conf *Config, logger *slog.Logger) (offline *Offline, err error) {
	cat, err := LoadCatalog(conf.Catalog)
	if err != nil {
		return nil, err
	}
	resolver, err := newIdentity(conf, logger)
	if err != nil {
		return nil, err
	}
	defer func() {
		if offline == nil {
			resolver.Close()
		}
	}()

	st, err := store.Open(ctx, conf.Store, store.WithLogger(logger))
	if err != nil {
		return nil, fmt.Errorf("failed to open policy store: %w", err)
	}
	defer st.Close()
	snap, err := st.Load(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to load policy store: %w", err)
	}
	engine, err := compileFunc(cat, conf.Evaluator, logger)(snap)
	if err != nil {
		return nil, err
	}

	checker, err := NewChecker(CheckerOptions{
		Catalog:  cat,
		Identity: resolver,
		Policies: func() (Decider, bool) { return engine, true },
		Region:   conf.Evaluator.Region,
		Logger:   logger,
	})
	if err != nil {
		return nil, err
	}
	return &Offline{Catalog: cat, Data: snap.Data, Engine: engine, Checker: checker, identity: resolver}, nil
}

// Close stops the JWKS refresh.
func (o *Offline) Close() error { return o.identity.Close() }

// Principal returns the principal of the store's user with id userID in
// project projectID, and false when the store has no such user.
func (o *Offline) Principal(userID, projectID string) (evaluator.Principal, bool) {
	for _, u := range o.Data.Users {
		if u.ID == userID {
			return evaluator.Principal{
				UserID:     u.ID,
				UserName:   u.Name,
				DomainID:   u.DomainID,
				DomainName: u.DomainName,
				ProjectID:  projectID,
				MFAAge:     -1,
			}, true
		}
	}
	return evaluator.Principal{}, false
}
