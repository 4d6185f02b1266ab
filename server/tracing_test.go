package server

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	collectortracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// spanCollector is an OTLP/gRPC trace collector that records span names.
type spanCollector struct {
	collectortracepb.UnimplementedTraceServiceServer

	mu    sync.Mutex
	names []string
}

func (c *spanCollector) Export(_ context.Context, req *collectortracepb.ExportTraceServiceRequest) (*collectortracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, span := range ss.GetSpans() {
				c.names = append(c.names, span.GetName())
			}
		}
	}
	return &collectortracepb.ExportTraceServiceResponse{}, nil
}

func (c *spanCollector) spanNames() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.names...)
}

func TestTracingExportsCheckSpan(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	collector := &spanCollector{}
	collectorServer := grpc.NewServer()
	collectortracepb.RegisterTraceServiceServer(collectorServer, collector)
	go collectorServer.Serve(listener)
	defer collectorServer.Stop()

	conf := &Config{}
	conf.GRPC.Address = freeAddress(t)
	conf.HTTP.Address = freeAddress(t)
	conf.Store.Dir = "../examples/policies"
	conf.Tracing = TracingConfig{Enabled: true, Endpoint: listener.Addr().String(), Insecure: true, SampleRatio: 1}
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(Options{Config: conf, Checker: testChecker(t, nil), Readiness: readyAlways{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	conn, err := grpc.NewClient(conf.GRPC.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := client.Check(context.Background(), &authv3.CheckRequest{})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Check failed for 5s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Shutdown flushes the batched spans to the collector.
	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	want := "envoy.service.auth.v3.Authorization/Check"
	for _, name := range collector.spanNames() {
		if name == want {
			return
		}
	}
	t.Errorf("collector received spans %v, want one named %s", collector.spanNames(), want)
}

func TestTracingConfigValidation(t *testing.T) {
	conf := TracingConfig{Enabled: true, Endpoint: "nonsense", SampleRatio: 2}
	problems := conf.validate()
	if len(problems) != 2 {
		t.Errorf("problems = %v, want one for tracing.endpoint and one for tracing.sample_ratio", problems)
	}
	disabled := TracingConfig{Endpoint: "nonsense", SampleRatio: 2}
	if problems := disabled.validate(); len(problems) != 0 {
		t.Errorf("disabled tracing reported %v, want no problems", problems)
	}
}
