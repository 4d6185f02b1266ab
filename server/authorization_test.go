package server

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/ecsauthz/ecsauthz/envoy"
)

// TestCheckWireMatchesCheck decides every example CheckRequest through
// Check, CheckWire and CheckEncoded and compares the responses.
func TestCheckWireMatchesCheck(t *testing.T) {
	offline := exampleOffline(t)
	auth := NewAuthorization(offline.Checker, AuthorizationOptions{})
	files, err := filepath.Glob("../examples/checkrequests/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no example CheckRequests (err %v)", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			req := &authv3.CheckRequest{}
			if err := protojson.Unmarshal(data, req); err != nil {
				t.Fatal(err)
			}
			wire, err := proto.Marshal(req)
			if err != nil {
				t.Fatal(err)
			}

			decoded, _ := auth.Check(context.Background(), req)
			raw, _ := auth.CheckWire(context.Background(), &envoy.RawCheckRequest{Wire: wire})
			got, want := withoutDecisionID(t, raw), withoutDecisionID(t, decoded)
			if got != want {
				t.Errorf("CheckWire response differs from Check:\nwire:    %s\ndecoded: %s", got, want)
			}

			encoded, _ := auth.CheckEncoded(context.Background(), &envoy.RawCheckRequest{Wire: wire})
			rawResponse, ok := encoded.(*envoy.RawCheckResponse)
			if !ok {
				t.Fatalf("CheckEncoded returned %T, want *envoy.RawCheckResponse", encoded)
			}
			fromWire := &authv3.CheckResponse{}
			if err := proto.Unmarshal(rawResponse.Wire, fromWire); err != nil {
				t.Fatalf("CheckEncoded response is not a CheckResponse: %v", err)
			}
			if got := withoutDecisionID(t, fromWire); got != want {
				t.Errorf("CheckEncoded response differs from Check:\nencoded: %s\ndecoded: %s", got, want)
			}
		})
	}
}

// withoutDecisionID renders resp as JSON with its decision id removed.
func withoutDecisionID(t *testing.T, resp *authv3.CheckResponse) string {
	t.Helper()
	data, err := protojson.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, headers := range [][]*corev3.HeaderValueOption{resp.GetOkResponse().GetHeaders(), resp.GetDeniedResponse().GetHeaders()} {
		for _, h := range headers {
			if h.GetHeader().GetKey() == envoy.DecisionIDHeader {
				text = strings.ReplaceAll(text, h.GetHeader().GetValue(), "DECISION_ID")
			}
		}
	}
	return text
}

// BenchmarkAuthorizationCheckWireEncode measures the handler together with
// the codec's encoding of its response: CheckWire with proto.Marshal of the
// message, and CheckEncoded with the bytes from envoy.Responder.
func BenchmarkAuthorizationCheckWireEncode(b *testing.B) {
	for _, bc := range []struct{ name, file string }{
		{"v1-get-allowed", "v1-get-allowed-viewer"},
		{"v1-delete-denied", "v1-delete-denied-bob-explicit"},
		{"v21-create-allowed", "v21-create-allowed-alice"},
	} {
		offline := exampleOffline(b)
		auth := NewAuthorization(offline.Checker, AuthorizationOptions{})
		wire, err := proto.Marshal(readBenchRequest(b, bc.file))
		if err != nil {
			b.Fatal(err)
		}
		req := &envoy.RawCheckRequest{Wire: wire}
		ctx := context.Background()
		codec := envoy.Codec{}

		b.Run(bc.name+"/message", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, _ := auth.CheckWire(ctx, req)
				out, err := codec.Marshal(resp)
				if err != nil {
					b.Fatal(err)
				}
				out.Free()
			}
		})
		b.Run(bc.name+"/encoded", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				resp, _ := auth.CheckEncoded(ctx, req)
				out, err := codec.Marshal(resp)
				if err != nil {
					b.Fatal(err)
				}
				out.Free()
			}
		})
	}
}
