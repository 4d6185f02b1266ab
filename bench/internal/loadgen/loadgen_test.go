package loadgen

import (
	"context"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ecsauthz/ecsauthz/bench/internal/mix"
)

// denyPuts allows every request except PUT, which it denies.
type denyPuts struct {
	authv3.UnimplementedAuthorizationServer
}

func (denyPuts) Check(_ context.Context, r *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	if r.GetAttributes().GetRequest().GetHttp().GetMethod() == "PUT" {
		return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.PermissionDenied)}}, nil
	}
	return &authv3.CheckResponse{Status: &status.Status{Code: int32(codes.OK)}}, nil
}

func startServer(t *testing.T) string {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	server := grpc.NewServer()
	authv3.RegisterAuthorizationServer(server, denyPuts{})
	healthServer := health.NewServer()
	healthpb.RegisterHealthServer(server, healthServer)
	go func() { _ = server.Serve(listener) }()
	t.Cleanup(server.Stop)
	return listener.Addr().String()
}

func loadMix(t *testing.T) []mix.Request {
	t.Helper()
	requests, _, err := mix.Load("../../testdata/mix", false)
	if err != nil {
		t.Fatalf("mix.Load: %v", err)
	}
	return requests
}

func TestRunCount(t *testing.T) {
	addr := startServer(t)
	requests := loadMix(t)
	result, err := Run(context.Background(), Config{
		Target:      addr,
		Requests:    requests,
		Concurrency: 4,
		Connections: 2,
		Warmup:      50 * time.Millisecond,
		Count:       2000,
		MaxDuration: 30 * time.Second,
		ServerPID:   os.Getpid(),
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if result.Checks < 2000 {
		t.Errorf("Checks = %d, want at least 2000", result.Checks)
	}
	if result.Errors != 0 {
		t.Errorf("Errors = %d (first: %s), want 0", result.Errors, result.FirstError)
	}
	if result.Statuses["OK"] == 0 || result.Statuses["PermissionDenied"] == 0 {
		t.Errorf("Statuses = %v, want both OK and PermissionDenied", result.Statuses)
	}
	if !(result.Latency.P50 > 0 && result.Latency.P50 <= result.Latency.P99 && result.Latency.P99 <= result.Latency.Max) {
		t.Errorf("Latency = %+v, want 0 < p50 <= p99 <= max", result.Latency)
	}
	if result.RPS <= 0 {
		t.Errorf("RPS = %v, want > 0", result.RPS)
	}
	if result.PeakRSSKiB <= 0 {
		t.Errorf("PeakRSSKiB = %d, want > 0", result.PeakRSSKiB)
	}
}

func TestRunDuration(t *testing.T) {
	addr := startServer(t)
	result, err := Run(context.Background(), Config{
		Target:      addr,
		Requests:    loadMix(t),
		Concurrency: 2,
		Connections: 1,
		Duration:    200 * time.Millisecond,
		MaxDuration: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if result.ElapsedS < 0.2 || result.ElapsedS > 2 {
		t.Errorf("ElapsedS = %v, want about 0.2", result.ElapsedS)
	}
	if result.Checks == 0 {
		t.Error("Checks = 0, want > 0")
	}
}

func TestRunServerDown(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := listener.Addr().String()
	listener.Close()
	result, err := Run(context.Background(), Config{
		Target:      addr,
		Requests:    loadMix(t),
		Concurrency: 1,
		Connections: 1,
		Duration:    100 * time.Millisecond,
		MaxDuration: 5 * time.Second,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if result.Errors == 0 || result.FirstError == "" {
		t.Errorf("Errors = %d, FirstError = %q, want errors against a closed port", result.Errors, result.FirstError)
	}
}

func TestConfigValidate(t *testing.T) {
	err := (&Config{Concurrency: 2, Connections: 3}).validate()
	for _, want := range []string{"target address is missing", "request mix is empty", "invalid connection count 3", "neither a check count nor a duration", "max duration is missing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("validate() = %v, want substring %q", err, want)
		}
	}
}

func TestDecideAndWait(t *testing.T) {
	addr := startServer(t)
	conns, err := Dial(addr, 1)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer conns[0].Close()
	if err := WaitServing(context.Background(), conns[0], 5*time.Second); err != nil {
		t.Fatalf("WaitServing: %v", err)
	}
	requests := loadMix(t)
	decisions := Decide(context.Background(), conns[0], requests, 5*time.Second)
	if len(decisions) != len(requests) {
		t.Fatalf("Decide returned %d decisions, want %d", len(decisions), len(requests))
	}
	for _, d := range decisions {
		want := "OK"
		if strings.Contains(d.Name, "-put-") {
			want = "PermissionDenied"
		}
		if d.Code != want {
			t.Errorf("%s: code = %s, want %s", d.Name, d.Code, want)
		}
	}
}

func TestSummarize(t *testing.T) {
	samples := make([]int64, 1000)
	for i := range samples {
		samples[i] = int64(1000-i) * int64(time.Microsecond)
	}
	got := summarize(samples)
	want := Latency{P50: 500, P90: 900, P99: 990, P999: 999, Max: 1000, Mean: 500.5}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if (summarize(nil) != Latency{}) {
		t.Error("summarize(nil) is not the zero Latency")
	}
}
