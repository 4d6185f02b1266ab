package envoy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// checkAppendResponse fails t unless AppendResponse encodes the response
// that Response builds for r.
func checkAppendResponse(t *testing.T, responder *Responder, r *Result) {
	t.Helper()
	want := responder.Response(r)
	wire := responder.AppendResponse(nil, r)
	got := &authv3.CheckResponse{}
	if err := proto.Unmarshal(wire, got); err != nil {
		t.Fatalf("AppendResponse(%+v) is not a CheckResponse: %v", r, err)
	}
	if !proto.Equal(want, got) {
		t.Errorf("AppendResponse(%+v) mismatch (-Response +AppendResponse):\n%s", r, cmp.Diff(want, got, protocmp.Transform()))
	}
}

func TestAppendResponseCases(t *testing.T) {
	for _, tc := range loadResponseCases(t) {
		t.Run(tc.Name, func(t *testing.T) {
			responder := NewResponder(ResponseConfig{
				UnknownRouteNotFound: tc.Config.UnknownRouteNotFound,
				TrustedHeaders:       tc.Config.TrustedHeaders,
			})
			checkAppendResponse(t, responder, &Result{
				Allowed:                   tc.Result.Allowed,
				Reason:                    evaluator.Reason(tc.Result.Reason),
				DeniedAction:              tc.Result.DeniedAction,
				DecisionID:                tc.Result.DecisionID,
				UserID:                    tc.Result.UserID,
				DomainID:                  tc.Result.DomainID,
				AllGrantedEPs:             tc.Result.AllGrantedEPs,
				GrantedEnterpriseProjects: tc.Result.GrantedEPs,
				HTTPStatus:                tc.Result.HTTPStatus,
			})
		})
	}
}

func TestAppendResponseEveryReason(t *testing.T) {
	responder := NewResponder(ResponseConfig{TrustedHeaders: []string{"x-trusted-user-id"}})
	reasons := append([]evaluator.Reason{"", "no_such_reason"}, evaluator.Reasons...)
	for _, reason := range reasons {
		for _, allowed := range []bool{false, true} {
			checkAppendResponse(t, responder, &Result{Allowed: allowed, Reason: reason, DecisionID: "d-1", DeniedAction: "ecs:servers:get"})
			checkAppendResponse(t, responder, &Result{Allowed: allowed, Reason: reason})
		}
	}
}

func TestAppendResponseAppends(t *testing.T) {
	r := &Result{Reason: evaluator.ReasonImplicitDeny, DecisionID: "d-1"}
	prefix := []byte("prefix")
	got := defaultResponder.AppendResponse(append([]byte(nil), prefix...), r)
	want := defaultResponder.AppendResponse(nil, r)
	if string(got) != string(prefix)+string(want) {
		t.Errorf("AppendResponse changed the bytes before the response: %q", got[:len(prefix)])
	}
}

func FuzzAppendResponseMatchesResponse(f *testing.F) {
	f.Add(true, "allowed", "", "7f3a-000001", "u-0001", "d-0001", false, "", 0, false, "")
	f.Add(true, "allowed", "", "7f3a-000002", "u-0004", "d-0001", true, "ep-1,ep-2", 0, false, "x-trusted-user-id")
	f.Add(false, "explicit_deny", "ecs:cloudServers:delete", "7f3a-000005", "", "", false, "", 0, false, "")
	f.Add(false, "unknown_route", "", "", "", "", false, "", 0, true, "")
	f.Add(false, "unauthenticated", "a\"b", "id", "", "", false, "", 429, false, "")
	f.Add(false, "made_up", "\xff", "\xfe", "", "", false, "", -1, false, "")
	f.Add(false, "implicit_deny", "", "", "", "", false, "", 1<<32, false, "")
	f.Fuzz(func(t *testing.T, allowed bool, reason, action, decisionID, userID, domainID string,
		allGranted bool, granted string, httpStatus int, notFound bool, trusted string) {
		var eps []string
		if granted != "" {
			eps = strings.Split(granted, ",")
		}
		var trustedHeaders []string
		if trusted != "" {
			trustedHeaders = strings.Split(trusted, ",")
		}
		responder := NewResponder(ResponseConfig{UnknownRouteNotFound: notFound, TrustedHeaders: trustedHeaders})
		r := &Result{
			Allowed:                   allowed,
			Reason:                    evaluator.Reason(reason),
			DeniedAction:              action,
			DecisionID:                decisionID,
			UserID:                    userID,
			DomainID:                  domainID,
			AllGrantedEPs:             allGranted,
			GrantedEnterpriseProjects: eps,
			HTTPStatus:                httpStatus,
		}
		if !r.validUTF8() || !validUTF8(responder.removeAll) {
			// proto.Marshal rejects such strings, so EncodeResponse falls
			// back to the message.
			if _, ok := responder.EncodeResponse(r).(*authv3.CheckResponse); !ok {
				t.Errorf("EncodeResponse(%+v) encoded invalid UTF-8", r)
			}
			return
		}
		checkAppendResponse(t, responder, r)
	})
}

// encodingAuthorization responds to every request with result from its
// CheckEncoded method. Its Check method panics, so a call to it fails the
// test.
type encodingAuthorization struct {
	result *Result
}

func (encodingAuthorization) Check(context.Context, *RawCheckRequest) (*authv3.CheckResponse, error) {
	panic("Check called on an EncodingAuthorizationServer")
}

func (e encodingAuthorization) CheckEncoded(_ context.Context, req *RawCheckRequest) (any, error) {
	var parsed Request
	if err := ParseCheckRequestWire(req.Wire, &parsed); err != nil {
		return nil, err
	}
	return defaultResponder.EncodeResponse(e.result), nil
}

func TestEncodedResponseOverGRPC(t *testing.T) {
	results := []*Result{
		{Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-1", DomainID: "d-1", DecisionID: "id-1"},
		{Reason: evaluator.ReasonExplicitDeny, DeniedAction: "ecs:cloudServers:delete", DecisionID: "id-2"},
		// Invalid UTF-8 fails the call, as proto.Marshal does.
		{Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-\xff"},
	}
	for i, result := range results {
		listener, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		server := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}))
		RegisterRawAuthorizationServer(server, encodingAuthorization{result: result})
		go server.Serve(listener)
		conn, err := grpc.NewClient(listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)

		got, err := authv3.NewAuthorizationClient(conn).Check(ctx, loadCheckRequest(t, "create-with-new-eip.body.json"))
		switch {
		case i == len(results)-1 && err == nil:
			t.Errorf("Check(%+v) returned no error for invalid UTF-8", result)
		case i < len(results)-1 && err != nil:
			t.Errorf("Check(%+v) error = %v", result, err)
		case err == nil && !proto.Equal(got, Response(result)):
			t.Errorf("Check(%+v) mismatch (-want +got):\n%s", result, cmp.Diff(Response(result), got, protocmp.Transform()))
		}
		cancel()
		conn.Close()
		server.Stop()
	}
}

// BenchmarkResponseEncode compares proto.Marshal of the Response message
// with AppendResponse, for an allow and a policy deny.
func BenchmarkResponseEncode(b *testing.B) {
	results := []struct {
		name   string
		result *Result
	}{
		{"allow", &Result{Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-0001",
			DomainID: "d0000000000000000000000000000001", DecisionID: "7f3a-000001"}},
		{"policy-deny", &Result{Reason: evaluator.ReasonImplicitDeny,
			DeniedAction: "ecs:cloudServers:createServers", DecisionID: "7f3a-000006"}},
	}
	for _, rc := range results {
		b.Run(rc.name+"/message", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := proto.Marshal(defaultResponder.Response(rc.result)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(rc.name+"/encoded", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				defaultResponder.EncodeResponse(rc.result)
			}
		})
	}
}
