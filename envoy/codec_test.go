package envoy

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

func marshalDeterministic(m proto.Message) ([]byte, error) {
	return proto.MarshalOptions{Deterministic: true}.Marshal(m)
}

// testAuthorization handles Check like the real server: a request that fails to
// parse is denied with invalid_request, every other one is allowed.
type testAuthorization struct {
	authv3.UnimplementedAuthorizationServer
	lastErr chan error
}

func (s *testAuthorization) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	var parsed Request
	err := ParseCheckRequest(req, &parsed)
	s.lastErr <- err
	if err != nil {
		return Response(&Result{Reason: evaluator.ReasonInvalidRequest}), nil
	}
	return Response(&Result{Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-0001"}), nil
}

// rawCodec sends and receives message bytes unchanged, so the test can put
// bytes on the wire that protobuf-go would refuse to marshal.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func startServer(t *testing.T) (*grpc.ClientConn, *testAuthorization) {
	t.Helper()
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}))
	service := &testAuthorization{lastErr: make(chan error, 1)}
	authv3.RegisterAuthorizationServer(server, service)
	healthpb.RegisterHealthServer(server, health.NewServer())
	go server.Serve(listener)
	t.Cleanup(server.Stop)

	conn, err := grpc.NewClient(listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, service
}

// invalidUTF8Wire returns a valid Envoy-shaped CheckRequest whose body, and
// optionally a header value, carry invalid UTF-8. The placeholders are
// replaced in the wire bytes so that every length prefix stays valid.
func invalidUTF8Wire(t *testing.T) []byte {
	t.Helper()
	req := loadCheckRequest(t, "create-with-new-eip.body.json")
	req.Attributes.Request.Http.Body = `{"server":{"name":"BODY-PLACEHOLDER"}}`
	req.Attributes.Request.Http.Headers["user-agent"] = "AGENT-PLACEHOLDER"
	wire, err := marshalDeterministic(req)
	if err != nil {
		t.Fatal(err)
	}
	replace := func(placeholder, invalid string) {
		if len(placeholder) != len(invalid) {
			t.Fatalf("replacement %q has another length than %q", invalid, placeholder)
		}
		wire = bytes.Replace(wire, []byte(placeholder), []byte(invalid), 1)
	}
	replace("BODY-PLACEHOLDER", "caf\xe9-\xff\xfe-latin1xx")
	replace("AGENT-PLACEHOLDER", "agent-\xc3\x28-invalidx")
	return wire
}

func TestCodecInvalidUTF8OverGRPC(t *testing.T) {
	conn, service := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	valid, err := marshalDeterministic(loadCheckRequest(t, "create-with-new-eip.body.json"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		wire       []byte
		wantStatus codes.Code
		errText    string
	}{
		{name: "valid request", wire: valid, wantStatus: codes.OK},
		{name: "invalid utf-8", wire: invalidUTF8Wire(t), wantStatus: codes.PermissionDenied, errText: "invalid UTF-8 in attributes.request.http."},
		{name: "not protobuf", wire: []byte{0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f}, wantStatus: codes.PermissionDenied, errText: "malformed protobuf"},
		{name: "empty message", wire: []byte{}, wantStatus: codes.PermissionDenied, errText: "attributes.request.http is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reply []byte
			err := conn.Invoke(ctx, "/envoy.service.auth.v3.Authorization/Check", &tt.wire, &reply, grpc.ForceCodecV2(rawCodec{}))
			if err != nil {
				t.Fatalf("Check() returned a gRPC error, want a CheckResponse: %v", err)
			}
			response := &authv3.CheckResponse{}
			if err := proto.Unmarshal(reply, response); err != nil {
				t.Fatal(err)
			}
			if got := codes.Code(response.GetStatus().GetCode()); got != tt.wantStatus {
				t.Errorf("CheckResponse status = %v, want %v", got, tt.wantStatus)
			}
			parseErr := <-service.lastErr
			if tt.errText == "" {
				if parseErr != nil {
					t.Errorf("ParseCheckRequest() error = %v", parseErr)
				}
				return
			}
			if !errors.Is(parseErr, ErrInvalidRequest) || !strings.Contains(parseErr.Error(), tt.errText) {
				t.Errorf("ParseCheckRequest() error = %v, want ErrInvalidRequest containing %q", parseErr, tt.errText)
			}
			if got := response.GetDeniedResponse().GetStatus().GetCode(); got != 400 {
				t.Errorf("denied HTTP status = %d, want 400", got)
			}
		})
	}

	// Other services on the same server keep the standard codec.
	status, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health Check() error = %v", err)
	}
	if status.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health status = %v, want SERVING", status.GetStatus())
	}
}

func TestUnmarshalCheckRequestRepair(t *testing.T) {
	req := &authv3.CheckRequest{}
	UnmarshalCheckRequest(invalidUTF8Wire(t), req)

	reason, ok := DecodeFailure(req)
	if !ok {
		t.Fatal("DecodeFailure() = false, want the request marked")
	}
	if !strings.HasPrefix(reason, "invalid UTF-8 in attributes.request.http.") {
		t.Errorf("DecodeFailure() = %q", reason)
	}
	http := req.GetAttributes().GetRequest().GetHttp()
	if got := http.GetBody(); got != `{"server":{"name":"caf`+"\uFFFD-\uFFFD-latin1xx"+`"}}` {
		t.Errorf("repaired body = %q", got)
	}
	if got := http.GetHeaders()["user-agent"]; got != "agent-\uFFFD(-invalidx" {
		t.Errorf("repaired user-agent = %q", got)
	}
	if got := http.GetPath(); got != "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/cloudservers" {
		t.Errorf("path after repair = %q, want the other fields kept", got)
	}

	clean := loadCheckRequest(t, "create-with-new-eip.body.json")
	if _, ok := DecodeFailure(clean); ok {
		t.Error("DecodeFailure(clean request) = true, want false")
	}
	if _, ok := DecodeFailure(nil); ok {
		t.Error("DecodeFailure(nil) = true, want false")
	}
}
