package server

import (
	"context"
	"log/slog"
	"os"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ecsauthz/ecsauthz/envoy"
	"github.com/ecsauthz/ecsauthz/evaluator"
)

// exampleOffline returns the example service with the default identity
// configuration: JWT verified against the example JWKS.
func exampleOffline(b testing.TB) *Offline {
	b.Helper()
	conf := &Config{}
	conf.Store.Dir = "../examples/policies"
	conf.Identity.JWT.JWKSFile = "../examples/jwks/jwks.json"
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		b.Fatal(err)
	}
	offline, err := NewOffline(context.Background(), conf, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { offline.Close() })
	return offline
}

func readBenchRequest(b *testing.B, name string) *authv3.CheckRequest {
	b.Helper()
	data, err := os.ReadFile("../examples/checkrequests/" + name + ".json")
	if err != nil {
		b.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		b.Fatal(err)
	}
	return req
}

// BenchmarkCheckHTTP measures the transport-neutral pipeline: canonicalize
// and match the path, identify the caller by a cached token, evaluate.
func BenchmarkCheckHTTP(b *testing.B) {
	for _, bc := range []struct {
		name, file string
		want       evaluator.Reason
	}{
		{"v1-get-1-action", "v1-get-allowed-viewer", evaluator.ReasonAllowed},
		{"v1-delete-explicit-deny", "v1-delete-denied-bob-explicit", evaluator.ReasonExplicitDeny},
		{"v21-create-26-actions", "v21-create-allowed-alice", evaluator.ReasonAllowed},
	} {
		b.Run(bc.name, func(b *testing.B) {
			offline := exampleOffline(b)
			req := readBenchRequest(b, bc.file)
			http := req.GetAttributes().GetRequest().GetHttp()
			in := &HTTPCheck{
				Method:  http.GetMethod(),
				Target:  http.GetPath(),
				Headers: headerMap(http.GetHeaders()),
				Body:    []byte(http.GetBody()),
			}
			var out Outcome
			offline.Checker.CheckHTTP(context.Background(), in, &out)
			if out.Decision.Reason != bc.want {
				b.Fatalf("reason = %q, want %q (err %v)", out.Decision.Reason, bc.want, out.Err)
			}

			b.ReportAllocs()
			for b.Loop() {
				offline.Checker.CheckHTTP(context.Background(), in, &out)
			}
		})
	}
}

// BenchmarkAuthorizationCheck measures the full Envoy handler without the
// gRPC transport: parse the CheckRequest, run the pipeline, build the
// CheckResponse.
func BenchmarkAuthorizationCheck(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"v1-get-allowed", "v1-get-allowed-viewer"},
		{"v1-delete-denied", "v1-delete-denied-bob-explicit"},
		{"v21-create-allowed", "v21-create-allowed-alice"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			offline := exampleOffline(b)
			auth := NewAuthorization(offline.Checker, AuthorizationOptions{})
			req := readBenchRequest(b, bc.file)
			ctx := context.Background()

			b.ReportAllocs()
			for b.Loop() {
				if _, err := auth.Check(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkGRPCCheck measures one Check call through the whole server over
// a loopback TCP connection: client and server gRPC stacks, the
// interceptor chain (recovery, access log, metrics) and the handler.
func BenchmarkGRPCCheck(b *testing.B) {
	offline := exampleOffline(b)
	conf := &Config{}
	conf.GRPC.Address = freeAddress(b)
	conf.HTTP.Address = freeAddress(b)
	conf.Store.Dir = "../examples/policies"
	conf.SetDefaults()
	srv, err := New(Options{Config: conf, Checker: offline.Checker, Readiness: readyAlways{}})
	if err != nil {
		b.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	b.Cleanup(func() {
		stop()
		<-done
	})

	conn, err := grpc.NewClient(conf.GRPC.Address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := authv3.NewAuthorizationClient(conn)
	req := readBenchRequest(b, "v1-get-allowed-viewer")
	waitCheck(b, client, req)

	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.Check(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

type readyAlways struct{}

func (readyAlways) Ready() bool { return true }
func (readyAlways) Detail() any { return nil }

// waitCheck retries a Check until the server accepts connections.
func waitCheck(b *testing.B, client authv3.AuthorizationClient, req *authv3.CheckRequest) {
	b.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := client.Check(context.Background(), req)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("server not reachable within 5s: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// BenchmarkAuthorizationCheckWire measures the handler the server
// registers: parse the CheckRequest from its wire bytes, run CheckHTTP,
// build the CheckResponse.
func BenchmarkAuthorizationCheckWire(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"v1-get-allowed", "v1-get-allowed-viewer"},
		{"v1-delete-denied", "v1-delete-denied-bob-explicit"},
		{"v21-create-allowed", "v21-create-allowed-alice"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			offline := exampleOffline(b)
			auth := NewAuthorization(offline.Checker, AuthorizationOptions{})
			wire, err := proto.Marshal(readBenchRequest(b, bc.file))
			if err != nil {
				b.Fatal(err)
			}
			req := &envoy.RawCheckRequest{Wire: wire}
			ctx := context.Background()

			b.ReportAllocs()
			for b.Loop() {
				if _, err := auth.CheckWire(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthorizationCheckDecode measures the same work as
// BenchmarkAuthorizationCheckWire along the generated path: decode the
// whole CheckRequest with protobuf, then run Check on it.
func BenchmarkAuthorizationCheckDecode(b *testing.B) {
	offline := exampleOffline(b)
	auth := NewAuthorization(offline.Checker, AuthorizationOptions{})
	wire, err := proto.Marshal(readBenchRequest(b, "v1-get-allowed-viewer"))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()

	b.ReportAllocs()
	for b.Loop() {
		req := &authv3.CheckRequest{}
		envoy.UnmarshalCheckRequest(wire, req)
		if _, err := auth.Check(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
