package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// NewLogger returns the process logger writing to w in the configured
// format and level.
func NewLogger(conf LogConfig, w io.Writer) (*slog.Logger, error) {
	level, err := parseLogLevel(conf.Level)
	if err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	switch conf.Format {
	case "", "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("invalid log format %q: use json or text", conf.Format)
	}
}

func parseLogLevel(name string) (slog.Level, error) {
	switch strings.ToLower(name) {
	case "debug":
		return slog.LevelDebug, nil
	case "", "info":
		return slog.LevelInfo, nil
	case "warn":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	default:
		return 0, fmt.Errorf("invalid level %q: use debug, info, warn or error", name)
	}
}

// grpcLogger adapts slog to the go-grpc-middleware logging interceptor.
func grpcLogger(logger *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		logger.Log(ctx, slog.Level(level), msg, fields...)
	})
}

// grpcLogLevel logs successful calls at Debug, so the access log stays quiet
// at the default level, and failed calls at Warn or Error.
func grpcLogLevel(code codes.Code) logging.Level {
	switch code {
	case codes.OK:
		return logging.LevelDebug
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return logging.LevelError
	default:
		return logging.LevelWarn
	}
}

// accessLogSelector returns the calls that go through the access log
// interceptor. Health checks never do. Envoy's Check calls do only at Debug
// level: their handler returns no error, so at a higher level the
// interceptor would build its fields on every request and log nothing.
func accessLogSelector(logger *slog.Logger) func(context.Context, interceptors.CallMeta) bool {
	return func(ctx context.Context, call interceptors.CallMeta) bool {
		switch call.Service {
		case healthpb.Health_ServiceDesc.ServiceName:
			return false
		case authv3.Authorization_ServiceDesc.ServiceName:
			return logger.Enabled(ctx, slog.LevelDebug)
		default:
			return true
		}
	}
}
