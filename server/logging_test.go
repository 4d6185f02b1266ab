package server

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors"
)

func TestAccessLogSelector(t *testing.T) {
	info := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	debug := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tests := []struct {
		service string
		logger  *slog.Logger
		want    bool
	}{
		{"grpc.health.v1.Health", debug, false},
		{"envoy.service.auth.v3.Authorization", info, false},
		{"envoy.service.auth.v3.Authorization", debug, true},
		{"ecsauthz.v1.AuthorizationService", info, true},
	}
	for _, tc := range tests {
		call := interceptors.CallMeta{Service: tc.service, Method: "Check"}
		if got := accessLogSelector(tc.logger)(context.Background(), call); got != tc.want {
			t.Errorf("service %s, debug enabled %v: logged = %v, want %v",
				tc.service, tc.logger.Enabled(context.Background(), slog.LevelDebug), got, tc.want)
		}
	}
}

func TestLogConfigLevels(t *testing.T) {
	for _, tc := range []struct {
		level   string
		wantErr bool
	}{
		{"debug", false}, {"info", false}, {"warn", false}, {"error", false}, {"loud", true},
	} {
		_, err := NewLogger(LogConfig{Level: tc.level, Format: "json"}, io.Discard)
		if (err != nil) != tc.wantErr {
			t.Errorf("level %q: err = %v, want error %v", tc.level, err, tc.wantErr)
		}
	}
	if _, err := NewLogger(LogConfig{Level: "info", Format: "xml"}, io.Discard); err == nil {
		t.Error("format xml accepted, want an error")
	}
}
