package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// switchReadiness is a Readiness the test flips by hand.
type switchReadiness struct{ ready atomic.Bool }

func (r *switchReadiness) Ready() bool { return r.ready.Load() }
func (r *switchReadiness) Detail() any { return map[string]bool{"ready": r.ready.Load()} }

// freeAddress returns a loopback address that was free a moment ago.
func freeAddress(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestServerReadinessAndShutdown(t *testing.T) {
	conf := &Config{}
	conf.GRPC.Address = freeAddress(t)
	conf.HTTP.Address = freeAddress(t)
	conf.Store.Dir = "../examples/policies"
	conf.ShutdownTimeout = 5 * time.Second
	conf.SetDefaults()

	readiness := &switchReadiness{}
	srv, err := New(Options{Config: conf, Checker: testChecker(t, nil), Readiness: readiness})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	conn, err := grpc.NewClient(conf.GRPC.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	health := healthpb.NewHealthClient(conn)
	service := authv3.Authorization_ServiceDesc.ServiceName

	// Before the first snapshot: NOT_SERVING and /readyz 503.
	waitHealth(t, health, service, healthpb.HealthCheckResponse_NOT_SERVING)
	if status, body := get(t, "http://"+conf.HTTP.Address+"/readyz"); status != http.StatusServiceUnavailable || !strings.Contains(body, `"ready":false`) {
		t.Errorf("/readyz before ready = %d %s, want 503 with ready false", status, body)
	}
	if status, _ := get(t, "http://"+conf.HTTP.Address+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz = %d, want 200", status)
	}

	// After it: SERVING and /readyz 200.
	readiness.ready.Store(true)
	waitHealth(t, health, service, healthpb.HealthCheckResponse_SERVING)
	waitHealth(t, health, "", healthpb.HealthCheckResponse_SERVING)
	if status, _ := get(t, "http://"+conf.HTTP.Address+"/readyz"); status != http.StatusOK {
		t.Errorf("/readyz after ready = %d, want 200", status)
	}

	// A malformed request still gets a deny CheckResponse.
	resp, err := authv3.NewAuthorizationClient(conn).Check(context.Background(), &authv3.CheckRequest{})
	if err != nil {
		t.Fatalf("Check of an empty request returned an error: %v", err)
	}
	if resp.GetStatus().GetCode() == 0 || resp.GetDeniedResponse() == nil {
		t.Errorf("empty request was not denied: %v", resp)
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run returned %v after shutdown, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of cancellation")
	}
}

func waitHealth(t *testing.T, client healthpb.HealthClient, service string, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health of %q: status %v, error %v; want %v within 5s", service, resp.GetStatus(), err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}
