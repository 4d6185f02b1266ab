// Package grpcserve runs an ext_authz Authorization service on a loopback
// gRPC listener for the benchmark's comparison servers.
package grpcserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// shutdownTimeout bounds graceful shutdown before in-flight RPCs are cut.
const shutdownTimeout = 5 * time.Second

// Run serves on addr until SIGTERM or SIGINT, then stops gracefully.
// register adds the Authorization service to the server built with opts.
// The gRPC health service reports SERVING as soon as the listener is open,
// because these servers have no data to load after they start.
func Run(addr string, register func(*grpc.Server), logger *slog.Logger, opts ...grpc.ServerOption) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", addr, err)
	}

	server := grpc.NewServer(opts...)
	register(server)
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(server, healthServer)
	healthServer.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		logger.Info("stopping", "addr", listener.Addr().String())
		healthServer.Shutdown()
		stopped := make(chan struct{})
		go func() {
			server.GracefulStop()
			close(stopped)
		}()
		select {
		case <-stopped:
		case <-time.After(shutdownTimeout):
			server.Stop()
		}
	}()

	logger.Info("serving", "addr", listener.Addr().String())
	if err := server.Serve(listener); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("failed to serve on %s: %w", addr, err)
	}
	logger.Info("stopped")
	return nil
}
