package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	"github.com/ecsauthz/ecsauthz/store"
)

// Service is the assembled authorization service: the catalog, the caller
// identity resolver, the policy store and its reloader, the checker and the
// server.
type Service struct {
	Catalog  *catalog.Catalog
	Identity *identity.Resolver
	Store    store.Store
	Policies *store.Reloader[*evaluator.Engine]
	Checker  *Checker
	Server   *Server

	logger    *slog.Logger
	gcPercent int
}

// NewService assembles the service described by conf, with version as the
// build version. It opens the policy
// store but loads nothing: [Service.Run] does. Further gRPC services can be
// registered on Service.Server before Run.
func NewService(ctx context.Context, conf *Config, version string, logger *slog.Logger) (*Service, error) {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	cat, err := LoadCatalog(conf.Catalog)
	if err != nil {
		return nil, err
	}
	resolver, err := newIdentity(conf, logger)
	if err != nil {
		return nil, err
	}

	st, err := store.Open(ctx, conf.Store,
		store.WithLogger(logger.With("logger", "store")),
		store.WithValidator(store.LimitsValidator(conf.Evaluator.Limits)))
	if err != nil {
		resolver.Close()
		return nil, fmt.Errorf("failed to open policy store: %w", err)
	}
	svc := &Service{Catalog: cat, Identity: resolver, Store: st, logger: logger, gcPercent: conf.GCPercent}
	reloader, err := store.NewReloader(st, compileFunc(cat, conf.Evaluator, logger), store.ReloaderConfig{
		MaxStaleness: conf.Store.MaxStaleness,
		SyncInterval: conf.Store.SyncInterval,
		Logger:       logger.With("logger", "store"),
		Registerer:   registry,
		Retain:       retainUsers,
		BeforeSwap:   svc.releaseMemory,
	})
	if err != nil {
		svc.close()
		return nil, fmt.Errorf("failed to create policy reloader: %w", err)
	}
	svc.Policies = reloader

	checker, err := NewChecker(CheckerOptions{
		Catalog:    cat,
		Identity:   resolver,
		Policies:   currentEngine(reloader),
		Region:     conf.Evaluator.Region,
		Logger:     logger.With("logger", "check"),
		Registerer: registry,
	})
	if err != nil {
		svc.close()
		return nil, err
	}
	svc.Checker = checker

	srv, err := New(Options{
		Config:         conf,
		Checker:        checker,
		Readiness:      reloaderReadiness{reloader},
		Logger:         logger,
		Registry:       registry,
		Version:        version,
		TrustedHeaders: trustedHeaders(conf),
	})
	if err != nil {
		svc.close()
		return nil, err
	}
	svc.Server = srv

	if err := svc.registerAPIs(conf, logger); err != nil {
		svc.close()
		return nil, err
	}
	return svc, nil
}

// registerAPIs registers the direct authorization API on the main listener
// and, when enabled, adds the policy administration API on its own.
func (s *Service) registerAPIs(conf *Config, logger *slog.Logger) error {
	api, err := NewAPI(APIOptions{
		Catalog:   s.Catalog,
		Identity:  s.Identity,
		Policies:  currentAPIEngine(s.Policies),
		Snapshot:  s.Policies.Snapshot,
		CheckHTTP: s.Checker.CheckHTTP,
		Region:    conf.Evaluator.Region,
		Logger:    logger.With("logger", "api"),
	})
	if err != nil {
		return fmt.Errorf("failed to create authorization API: %w", err)
	}
	api.Register(s.Server)

	if !conf.Admin.Enabled {
		return nil
	}
	token, tlsConf, err := conf.Admin.Credentials()
	if err != nil {
		return fmt.Errorf("failed to load admin API credentials: %w", err)
	}
	limits := conf.Evaluator.Limits
	admin, err := NewAdminServer(AdminOptions{
		Store:          s.Store,
		ValidatePolicy: func(name string, doc []byte) error { return evaluator.ValidatePolicy(name, doc, limits) },
		BearerToken:    token,
		TLS:            tlsConf,
		Logger:         logger.With("logger", "admin"),
	})
	if err != nil {
		return fmt.Errorf("failed to create admin API: %w", err)
	}
	s.Server.AddGRPCServer("admin API", conf.Admin.Listen, admin)
	return nil
}

// Run loads and watches the policy store and serves until ctx is done,
// then shuts down gracefully and closes the store. The garbage collection
// target (gc_percent) is set once the first snapshot is compiled, see
// [Service.releaseMemory].
func (s *Service) Run(ctx context.Context) error {
	reloadCtx, stopReload := context.WithCancel(context.WithoutCancel(ctx))
	reloadDone := make(chan struct{})
	go func() {
		defer close(reloadDone)
		if err := s.Policies.Run(reloadCtx); err != nil && !errors.Is(err, context.Canceled) {
			s.logger.Error("policy reloader stopped", "error", err)
		}
	}()

	err := s.Server.Run(ctx)

	// The reloader stops only after the server, so checks in flight during
	// graceful shutdown still see a current snapshot.
	stopReload()
	<-reloadDone
	s.close()
	return err
}

// close releases the store connections and stops the JWKS refresh.
func (s *Service) close() {
	if err := s.Store.Close(); err != nil {
		s.logger.Warn("failed to close policy store", "error", err)
	}
	s.Identity.Close()
}

// LoadCatalog returns the built-in catalog, or the catalog in conf.Dir when
// set.
func LoadCatalog(conf CatalogConfig) (*catalog.Catalog, error) {
	if conf.Dir == "" {
		cat, err := catalog.Load()
		if err != nil {
			return nil, fmt.Errorf("failed to load built-in catalog: %w", err)
		}
		return cat, nil
	}

	fsys := os.DirFS(conf.Dir)
	var files []string
	for _, pattern := range []string{"*.yaml", "*.yml"} {
		matches, err := fs.Glob(fsys, pattern)
		if err != nil {
			return nil, fmt.Errorf("failed to list catalog files in %s: %w", conf.Dir, err)
		}
		files = append(files, matches...)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("failed to load catalog: no *.yaml files in %s", conf.Dir)
	}
	slices.Sort(files)
	cat, err := catalog.LoadFS(fsys, files...)
	if err != nil {
		return nil, fmt.Errorf("failed to load catalog from %s: %w", filepath.Clean(conf.Dir), err)
	}
	return cat, nil
}

// compileFunc returns the function that turns a policy snapshot into an
// engine. Compile warnings are logged and do not reject the snapshot. The
// compile error is returned as is: it names the file and line of each
// problem, and the reloader already adds "failed to compile snapshot REV".
func compileFunc(cat *catalog.Catalog, conf evaluator.Config, logger *slog.Logger) func(*store.Snapshot) (*evaluator.Engine, error) {
	return func(snap *store.Snapshot) (*evaluator.Engine, error) {
		engine, problems, err := evaluator.Compile(snap.Data, cat, conf)
		for _, p := range problems {
			if snap.Revision == "" {
				logger.Warn("policy warning", "problem", p.String())
			} else {
				logger.Warn("policy warning", "revision", snap.Revision, "problem", p.String())
			}
		}
		if err != nil {
			return nil, err
		}
		return engine, nil
	}
}

// currentEngine adapts a reloader to [CheckerOptions.Policies].
func currentEngine(r *store.Reloader[*evaluator.Engine]) func() (Decider, bool) {
	return func() (Decider, bool) {
		engine, ok := r.Current()
		if engine == nil {
			return nil, false
		}
		return engine, ok
	}
}

// currentAPIEngine adapts a reloader to [APIOptions.Policies].
func currentAPIEngine(r *store.Reloader[*evaluator.Engine]) func() (APIDecider, bool) {
	return func() (APIDecider, bool) {
		engine, ok := r.Current()
		if !ok || engine == nil {
			return nil, false
		}
		return engine, true
	}
}

// retainUsers keeps of a compiled snapshot its revision, load time and
// users, which the direct authorization API looks callers up in. The engine
// references the users too, so keeping them costs nothing. The policy
// documents, grants, groups and memberships are garbage once compiled.
func retainUsers(snap *store.Snapshot) *store.Snapshot {
	retained := *snap
	retained.Data = &evaluator.Data{Users: snap.Data.Users}
	return &retained
}

// releaseMemory runs after each snapshot compiled and before it is put in
// force. It returns the free heap, mostly garbage of the load and compile,
// to the operating system. Without it the resident size after a load stays
// near the load's peak until the runtime's background scavenger returns the
// memory. With 100,000 grants it took about 80 ms. On the first snapshot it
// then sets the garbage collection target (gc_percent), so the first load
// runs with the runtime's default of 100 and its heap does not grow to
// several times the live data.
//
// NOTE: the forced collection and scavenge also run on reloads while checks
// are served. Their effect on check latency was not measured.
func (s *Service) releaseMemory(_ *store.Snapshot, first bool) {
	start := time.Now()
	debug.FreeOSMemory()
	s.logger.Debug("returned free memory to the operating system", "duration", time.Since(start))
	if first {
		applyGCPercent(s.gcPercent, os.LookupEnv, s.logger)
	}
}

// reloaderReadiness adapts a reloader to [Readiness].
type reloaderReadiness struct {
	reloader *store.Reloader[*evaluator.Engine]
}

func (r reloaderReadiness) Ready() bool { return r.reloader.Ready() }

func (r reloaderReadiness) Detail() any { return r.reloader.Health() }
