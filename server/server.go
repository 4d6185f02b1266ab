package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/selector"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/ecsauthz/ecsauthz/envoy"
)

// Readiness reports whether the policy store has produced a usable
// snapshot, and a JSON-encodable detail for /readyz.
type Readiness interface {
	// Ready returns true once the first policy snapshot is loaded.
	Ready() bool
	// Detail describes the store state: revision, age, last error.
	Detail() any
}

// Options are the parts a [Server] serves. Config, Checker and Readiness are
// required.
type Options struct {
	Config    *Config
	Checker   *Checker
	Readiness Readiness
	// Logger is the process logger. Nil discards logs.
	Logger *slog.Logger
	// Registry collects every metric served on /metrics. Nil creates one.
	Registry *prometheus.Registry
	// Version is the build version, recorded in trace spans.
	Version string
	// TrustedHeaders are identity headers a trusted proxy may set, removed
	// from every allowed request before it reaches the upstream.
	TrustedHeaders []string
}

// Server serves Envoy's Authorization service, gRPC health and reflection
// on one listener and /metrics, /healthz and /readyz on another.
type Server struct {
	conf      *Config
	logger    *slog.Logger
	registry  *prometheus.Registry
	readiness Readiness
	grpc      *grpc.Server
	health    *health.Server
	http      *http.Server
	metrics   *grpcprom.ServerMetrics
	extra     []extraServer
	tracing   *tracing // nil when tracing is off
}

// New builds a Server. It opens no listener: [Server.Run] does.
func New(opts Options) (*Server, error) {
	if opts.Config == nil || opts.Checker == nil || opts.Readiness == nil {
		return nil, errors.New("failed to create server: config, checker and readiness are required")
	}
	s := &Server{
		conf:      opts.Config,
		logger:    opts.Logger,
		registry:  opts.Registry,
		readiness: opts.Readiness,
		health:    health.NewServer(),
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.registry == nil {
		s.registry = prometheus.NewRegistry()
	}

	// Handling-time buckets from 25 µs to about 410 ms, around Envoy's
	// default ext_authz timeout of 200 ms.
	grpcMetrics := grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram(
		grpcprom.WithHistogramBuckets(prometheus.ExponentialBuckets(25e-6, 4, 8)),
	))
	if err := s.registry.Register(grpcMetrics); err != nil {
		return nil, fmt.Errorf("failed to register gRPC metrics: %w", err)
	}

	s.metrics = grpcMetrics
	serverOptions := s.grpcOptions(grpcMetrics)
	if s.conf.Tracing.Enabled {
		t, err := newTracing(context.Background(), s.conf.Tracing, opts.Version)
		if err != nil {
			return nil, err
		}
		s.tracing = t
		serverOptions = append(serverOptions, t.serverOption())
	}
	s.grpc = grpc.NewServer(serverOptions...)
	// The Authorization service parses CheckRequests from their wire form.
	// envoy.Codec hands it the bytes and still decodes every other message.
	envoy.RegisterRawAuthorizationServer(s.grpc, wireAuthorization{NewAuthorization(opts.Checker, AuthorizationOptions{
		UnknownRouteNotFound: s.conf.UnknownRouteNotFound,
		TrustedHeaders:       opts.TrustedHeaders,
	})})
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)

	s.http = &http.Server{
		Handler:           s.httpHandler(),
		ReadHeaderTimeout: 5 * time.Second,
	}
	return s, nil
}

// RegisterService registers a further gRPC service on the main listener,
// such as the direct authorization API. It implements
// grpc.ServiceRegistrar and must be called before [Server.Run].
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
}

// extraServer is a gRPC server on a listener of its own, such as the
// policy administration API.
type extraServer struct {
	name    string
	address string
	server  *grpc.Server
}

// AddGRPCServer makes [Server.Run] serve srv on address as well, and stop
// it gracefully on shutdown. name identifies it in logs. It must be called
// before Run.
func (s *Server) AddGRPCServer(name, address string, srv *grpc.Server) {
	s.extra = append(s.extra, extraServer{name: name, address: address, server: srv})
}

// grpcOptions builds the interceptor chain and transport limits. Recovery is
// outermost so that a panic in logging or metrics is also caught.
func (s *Server) grpcOptions(metrics *grpcprom.ServerMetrics) []grpc.ServerOption {
	onPanic := func(ctx context.Context, p any) error {
		s.logger.ErrorContext(ctx, "recovered from panic in gRPC handler", "panic", fmt.Sprint(p))
		return status.Error(codes.Internal, "internal error")
	}
	accessLogger := s.logger.With("logger", "grpc")
	accessLog := logging.UnaryServerInterceptor(grpcLogger(accessLogger),
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(grpcLogLevel),
	)

	options := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(
			recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(onPanic)),
			selector.UnaryServerInterceptor(accessLog, selector.MatchFunc(accessLogSelector(accessLogger))),
			metrics.UnaryServerInterceptor(),
		),
		grpc.ChainStreamInterceptor(
			recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(onPanic)),
			metrics.StreamServerInterceptor(),
		),
		grpc.ForceServerCodecV2(envoy.Codec{}),
		grpc.MaxRecvMsgSize(s.conf.GRPC.MaxRecvMsgBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{
			Time:    s.conf.GRPC.KeepaliveTime,
			Timeout: s.conf.GRPC.KeepaliveTimeout,
		}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             s.conf.GRPC.KeepaliveMinTime,
			PermitWithoutStream: true,
		}),
	}
	// Workers keep their grown stacks between calls. With a goroutine per
	// call, every Check grows a fresh stack (runtime.newstack).
	if s.conf.GRPC.StreamWorkers > 0 {
		options = append(options, grpc.NumStreamWorkers(uint32(s.conf.GRPC.StreamWorkers)))
	}
	return options
}

// Run listens on the configured addresses and serves until ctx is done, then
// shuts down gracefully: health turns NOT_SERVING, in-flight calls get up to
// the shutdown timeout to finish, and remaining connections are closed.
// It returns nil after a shutdown caused by ctx, or the first serve error.
func (s *Server) Run(ctx context.Context) error {
	// Every service stays NOT_SERVING until the first policy snapshot loads.
	s.metrics.InitializeMetrics(s.grpc)
	for name := range s.grpc.GetServiceInfo() {
		s.health.SetServingStatus(name, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_NOT_SERVING)

	grpcListener, err := net.Listen("tcp", s.conf.GRPC.Address)
	if err != nil {
		return fmt.Errorf("failed to listen for gRPC on %s: %w", s.conf.GRPC.Address, err)
	}
	httpListener, err := net.Listen("tcp", s.conf.HTTP.Address)
	if err != nil {
		grpcListener.Close()
		return fmt.Errorf("failed to listen for HTTP on %s: %w", s.conf.HTTP.Address, err)
	}
	extraListeners, err := s.listenExtra()
	if err != nil {
		grpcListener.Close()
		httpListener.Close()
		return err
	}
	s.logger.Info("listening",
		"grpc_address", grpcListener.Addr().String(),
		"http_address", httpListener.Addr().String())

	serveErrors := make(chan error, 2+len(s.extra))
	go func() { serveErrors <- s.serveGRPC(grpcListener) }()
	go func() { serveErrors <- s.serveHTTP(httpListener) }()
	for i, extra := range s.extra {
		go func() {
			if err := extra.server.Serve(extraListeners[i]); err != nil {
				serveErrors <- fmt.Errorf("failed to serve %s: %w", extra.name, err)
				return
			}
			serveErrors <- nil
		}()
	}

	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go s.watchReadiness(watchCtx)

	var serveErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down", "cause", context.Cause(ctx).Error())
	case serveErr = <-serveErrors:
		s.logger.Error("listener failed, shutting down", "error", serveErr)
	}
	stopWatch()
	s.shutdown()
	return serveErr
}

// listenExtra opens the listeners of the servers added with
// [Server.AddGRPCServer].
func (s *Server) listenExtra() ([]net.Listener, error) {
	listeners := make([]net.Listener, 0, len(s.extra))
	for _, extra := range s.extra {
		l, err := net.Listen("tcp", extra.address)
		if err != nil {
			for _, opened := range listeners {
				opened.Close()
			}
			return nil, fmt.Errorf("failed to listen for %s on %s: %w", extra.name, extra.address, err)
		}
		s.logger.Info("listening", "server", extra.name, "address", l.Addr().String())
		listeners = append(listeners, l)
	}
	return listeners, nil
}

func (s *Server) serveGRPC(l net.Listener) error {
	if err := s.grpc.Serve(l); err != nil {
		return fmt.Errorf("failed to serve gRPC: %w", err)
	}
	return nil
}

func (s *Server) serveHTTP(l net.Listener) error {
	if err := s.http.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("failed to serve HTTP: %w", err)
	}
	return nil
}

// watchReadiness turns health SERVING once the first policy snapshot is
// loaded. It polls because the store reports readiness as state, not as an
// event.
func (s *Server) watchReadiness(ctx context.Context) {
	ticker := time.NewTicker(50 * time.Millisecond)
	defer ticker.Stop()
	for {
		if s.readiness.Ready() {
			s.health.Resume()
			s.logger.Info("serving", "store", s.readiness.Detail())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// shutdown marks every service NOT_SERVING, then stops the gRPC servers and
// the HTTP listener within the shutdown timeout.
func (s *Server) shutdown() {
	s.health.Shutdown()
	deadline := time.Now().Add(s.conf.ShutdownTimeout)

	stopped := make(chan struct{})
	go func() {
		var wg sync.WaitGroup
		for _, extra := range s.extra {
			wg.Go(extra.server.GracefulStop)
		}
		s.grpc.GracefulStop()
		wg.Wait()
		close(stopped)
	}()
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		s.logger.Warn("graceful stop timed out, closing open connections", "timeout", s.conf.ShutdownTimeout.String())
		s.grpc.Stop()
		for _, extra := range s.extra {
			extra.server.Stop()
		}
		<-stopped
	}

	httpCtx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := s.http.Shutdown(httpCtx); err != nil {
		s.logger.Warn("HTTP shutdown did not finish in time", "error", err)
		s.http.Close()
	}
	if s.tracing != nil {
		if err := s.tracing.shutdown(httpCtx); err != nil {
			s.logger.Warn("failed to flush trace spans", "error", err)
		}
	}
	s.logger.Info("stopped")
}
