package envoy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// probedHeaders are the header names the equivalence check compares.
var probedHeaders = []string{
	"authorization", "x-auth-token", "x-request-id", PartialBodyHeader, ":path", "accept", "user-agent", "k",
}

// parsedView is the comparable content of a parsed Request.
type parsedView struct {
	Method, Target, RequestID, SourcePrincipal, SourceIP string
	Body                                                 string
	BodyTruncated                                        bool
	ContextExtensions                                    map[string]string
	JWTAuthn                                             *structpb.Struct
	HeaderCounts                                         []int
	// HeaderValues are compared only for headers that occur once, because
	// the proto path joins case-folded duplicates in map order.
	HeaderValues []string
}

func viewOf(r *Request) parsedView {
	view := parsedView{
		Method: r.Method, Target: r.Target, RequestID: r.RequestID, SourcePrincipal: r.SourcePrincipal,
		SourceIP: r.SourceIP.String(), Body: string(r.Body), BodyTruncated: r.BodyTruncated,
		ContextExtensions: r.ContextExtensions, JWTAuthn: r.JWTAuthn,
	}
	for _, name := range probedHeaders {
		value, count := r.Headers.Header(name)
		view.HeaderCounts = append(view.HeaderCounts, count)
		if count != 1 {
			value = ""
		}
		view.HeaderValues = append(view.HeaderValues, value)
	}
	return view
}

// checkWireEquivalence parses wire both ways and fails when the results
// differ: both must fail, or both succeed with the same content.
func checkWireEquivalence(t *testing.T, wire []byte) {
	t.Helper()
	decoded := &authv3.CheckRequest{}
	UnmarshalCheckRequest(wire, decoded)
	var viaProto, viaWire Request
	protoErr := ParseCheckRequest(decoded, &viaProto)
	wireErr := ParseCheckRequestWire(wire, &viaWire)

	field, walkErr := firstInvalidUTF8(wire, checkRequestDescriptor, "", 0)
	if want := walkErr == nil && field == ""; validWire(wire, checkRequestSchema, 0) != want {
		t.Fatalf("validWire = %v, firstInvalidUTF8 = %q, %v: want validWire to accept exactly what firstInvalidUTF8 accepts\nwire %x", !want, field, walkErr, wire)
	}

	if (protoErr == nil) != (wireErr == nil) {
		t.Fatalf("ParseCheckRequest error = %v, ParseCheckRequestWire error = %v, want both nil or both set\nwire %x", protoErr, wireErr, wire)
	}
	if protoErr != nil {
		return
	}
	if diff := cmp.Diff(viewOf(&viaProto), viewOf(&viaWire), protocmp.Transform()); diff != "" {
		t.Fatalf("ParseCheckRequestWire differs from ParseCheckRequest (-proto +wire):\n%s\nwire %x", diff, wire)
	}
}

func wireCorpus(t testing.TB) [][]byte {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join("testdata", "checkrequests"))
	if err != nil {
		t.Fatal(err)
	}
	var corpus [][]byte
	for _, entry := range entries {
		wire, err := marshalDeterministic(loadCheckRequest(t, entry.Name()))
		if err != nil {
			t.Fatal(err)
		}
		corpus = append(corpus, wire)
	}

	mixed := loadCheckRequest(t, "list-with-jwt-authn-metadata.json")
	mixed.Attributes.Request.Http.Headers["Authorization"] = "Bearer a"
	mixed.Attributes.Request.Http.Headers["authorization"] = "Bearer b"
	mixed.Attributes.Request.Http.Headers["K"] = "upper"
	mixed.Attributes.Request.Http.Headers["\u212a"] = "kelvin"
	headerMap := loadCheckRequest(t, "create-truncated-body.json")
	headerMap.Attributes.Request.Http.HeaderMap = &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
		{Key: "authorization", RawValue: []byte("Bearer a")},
		{Key: "Authorization", Value: "Bearer b"},
		{Key: PartialBodyHeader, Value: "true"},
		{},
	}}
	pipe := loadCheckRequest(t, "create-with-new-eip.raw_body.json")
	pipe.Attributes.Source.Address = &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}}}
	for _, req := range []*authv3.CheckRequest{mixed, headerMap, pipe} {
		wire, err := marshalDeterministic(req)
		if err != nil {
			t.Fatal(err)
		}
		corpus = append(corpus, wire)
	}

	// Merged and repeated fields: a second attributes message overrides the
	// method and adds a header, a client-sent decode-failure mark.
	second, err := marshalDeterministic(&authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
			Method: "DELETE", Headers: map[string]string{"x-auth-token": "t"},
		}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	corpus = append(corpus, append(append([]byte{}, corpus[0]...), second...))
	marked := protowire.AppendTag(append([]byte{}, corpus[0]...), decodeFailureField, protowire.BytesType)
	corpus = append(corpus, protowire.AppendString(marked, "client mark"))
	return corpus
}

func TestParseWireMatchesProto(t *testing.T) {
	for i, wire := range wireCorpus(t) {
		t.Run(string(rune('a'+i)), func(t *testing.T) {
			checkWireEquivalence(t, wire)
		})
	}
	checkWireEquivalence(t, invalidUTF8Wire(t))
	checkWireEquivalence(t, []byte{0x0a, 0xff})
	checkWireEquivalence(t, nil)
}

func TestParseWireReusesHeaders(t *testing.T) {
	wire := wireCorpus(t)[0]
	var parsed Request
	if err := ParseCheckRequestWire(wire, &parsed); err != nil {
		t.Fatal(err)
	}
	first := &parsed.Headers.pairs[0]
	if err := ParseCheckRequestWire(wire, &parsed); err != nil {
		t.Fatal(err)
	}
	if &parsed.Headers.pairs[0] != first {
		t.Error("ParseCheckRequestWire allocated new header storage, want the previous one reused")
	}
}

// FuzzParseWireMatchesProto checks that ParseCheckRequestWire and
// ParseCheckRequest agree on arbitrary bytes. Run it with
//
//	go test ./envoy -run '^$' -fuzz FuzzParseWireMatchesProto -fuzztime 60s
func FuzzParseWireMatchesProto(f *testing.F) {
	for _, wire := range wireCorpus(f) {
		f.Add(wire)
	}
	f.Fuzz(checkWireEquivalence)
}

// rawAuthorization parses with ParseCheckRequestWire, like a server that
// registers the raw service.
type rawAuthorization struct{}

func (rawAuthorization) Check(_ context.Context, req *RawCheckRequest) (*authv3.CheckResponse, error) {
	var parsed Request
	if err := ParseCheckRequestWire(req.Wire, &parsed); err != nil {
		return Response(&Result{Reason: evaluator.ReasonInvalidRequest}), nil
	}
	return Response(&Result{Allowed: true, Reason: evaluator.ReasonAllowed, UserID: parsed.Method}), nil
}

func TestRawAuthorizationOverGRPC(t *testing.T) {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := grpc.NewServer(grpc.ForceServerCodecV2(Codec{}))
	RegisterRawAuthorizationServer(server, rawAuthorization{})
	go server.Serve(listener)
	defer server.Stop()
	conn, err := grpc.NewClient(listener.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// A standard generated client talks to the raw service.
	response, err := authv3.NewAuthorizationClient(conn).Check(ctx, loadCheckRequest(t, "create-with-new-eip.body.json"))
	if err != nil {
		t.Fatalf("Check() error = %v", err)
	}
	if response.GetStatus().GetCode() != int32(codes.OK) {
		t.Errorf("Check() status = %v, want OK", response.GetStatus())
	}
	if got := response.GetOkResponse().GetHeaders()[0].GetHeader().GetValue(); got != "POST" {
		t.Errorf("Check() saw method %q, want POST", got)
	}

	var reply []byte
	wire := invalidUTF8Wire(t)
	if err := conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, &wire, &reply, grpc.ForceCodecV2(rawCodec{})); err != nil {
		t.Fatalf("Check(invalid UTF-8) returned a gRPC error: %v", err)
	}
	denied := &authv3.CheckResponse{}
	if err := proto.Unmarshal(reply, denied); err != nil {
		t.Fatal(err)
	}
	if got := denied.GetDeniedResponse().GetStatus().GetCode(); got != 400 {
		t.Errorf("Check(invalid UTF-8) HTTP status = %d, want 400", got)
	}
}

// benchmarkRequests are the inputs of the parse benchmarks: a list request
// with jwt_authn metadata, and a create request with a bearer token and a
// 430-byte raw_body.
var benchmarkRequests = []string{"list-with-jwt-authn-metadata.json", "create-with-new-eip.raw_body.json"}

// BenchmarkParseWireAndAllow is BenchmarkParseAndAllow with the wire
// parser, starting from the bytes grpc-go receives.
func BenchmarkParseWireAndAllow(b *testing.B) {
	result := &Result{
		Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-0002",
		DomainID: "d0000000000000000000000000000001", DecisionID: "7f3a-000001",
	}
	for _, name := range benchmarkRequests {
		b.Run(name, func(b *testing.B) {
			wire, err := marshalDeterministic(loadCheckRequest(b, name))
			if err != nil {
				b.Fatal(err)
			}
			var parsed Request

			b.ReportAllocs()
			for b.Loop() {
				if err := ParseCheckRequestWire(wire, &parsed); err != nil {
					b.Fatal(err)
				}
				parsed.Headers.Header("authorization")
				if Response(result).GetOkResponse() == nil {
					b.Fatal("Response() is not an allow")
				}
			}
		})
	}
}

// BenchmarkDecodeParseAndAllow is the proto path from the same bytes:
// proto.Unmarshal through the codec, ParseCheckRequest and the response.
func BenchmarkDecodeParseAndAllow(b *testing.B) {
	result := &Result{
		Allowed: true, Reason: evaluator.ReasonAllowed, UserID: "u-0002",
		DomainID: "d0000000000000000000000000000001", DecisionID: "7f3a-000001",
	}
	for _, name := range benchmarkRequests {
		b.Run(name, func(b *testing.B) {
			wire, err := marshalDeterministic(loadCheckRequest(b, name))
			if err != nil {
				b.Fatal(err)
			}
			var parsed Request

			b.ReportAllocs()
			for b.Loop() {
				req := &authv3.CheckRequest{}
				UnmarshalCheckRequest(wire, req)
				if err := ParseCheckRequest(req, &parsed); err != nil {
					b.Fatal(err)
				}
				parsed.Headers.Header("authorization")
				if Response(result).GetOkResponse() == nil {
					b.Fatal("Response() is not an allow")
				}
			}
		})
	}
}

func TestParseWireManyHeaders(t *testing.T) {
	req := loadCheckRequest(t, "create-with-new-eip.body.json")
	for i := range 3 * maxLinearPairs {
		req.Attributes.Request.Http.Headers[fmt.Sprintf("x-extra-%d", i)] = "v"
	}
	wire, err := marshalDeterministic(req)
	if err != nil {
		t.Fatal(err)
	}
	// A repeated entry after the index exists replaces the earlier value.
	wire = protowire.AppendTag(wire, fieldNumbers.checkAttributes, protowire.BytesType)
	repeated, err := marshalDeterministic(&authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Headers: map[string]string{"x-extra-7": "replaced"}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wire = protowire.AppendBytes(wire, repeated)
	checkWireEquivalence(t, wire)

	var parsed Request
	if err := ParseCheckRequestWire(wire, &parsed); err != nil {
		t.Fatal(err)
	}
	if value, count := parsed.Headers.Header("x-extra-7"); value != "replaced" || count != 1 {
		t.Errorf("Header(x-extra-7) = %q, %d, want replaced, 1", value, count)
	}
}

// TestParseWireMutations runs the equivalence check on seeded random byte
// mutations of the corpus, so every test run covers malformed input even
// without the fuzzer.
func TestParseWireMutations(t *testing.T) {
	corpus := wireCorpus(t)
	random := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		wire := append([]byte{}, corpus[random.IntN(len(corpus))]...)
		for range 1 + random.IntN(4) {
			wire[random.IntN(len(wire))] = byte(random.IntN(256))
		}
		checkWireEquivalence(t, wire)
	}
}

// TestParseWireNamesInvalidField checks that the error names the first
// string field with invalid UTF-8, as the Codec's repair does, also in
// fields that ParseCheckRequestWire does not read.
func TestParseWireNamesInvalidField(t *testing.T) {
	const placeholder = "INVALID-PLACEHOLDER"
	invalid := "bad-\xff\xfe-utf8-xxxxxxx"
	for _, tc := range []struct {
		name, wantField string
		set             func(req *authv3.CheckRequest)
	}{
		{"header value", "attributes.request.http.headers.value", func(req *authv3.CheckRequest) {
			req.Attributes.Request.Http.Headers["user-agent"] = placeholder
		}},
		{"unread destination principal", "attributes.destination.principal", func(req *authv3.CheckRequest) {
			req.Attributes.Destination = &authv3.AttributeContext_Peer{Principal: placeholder}
		}},
		{"context extension", "attributes.context_extensions.value", func(req *authv3.CheckRequest) {
			req.Attributes.ContextExtensions = map[string]string{"virtual_host": placeholder}
		}},
		{"nested metadata struct", "attributes.metadata_context.filter_metadata.value.fields.value.string_value", func(req *authv3.CheckRequest) {
			req.Attributes.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
				"other": {Fields: map[string]*structpb.Value{"k": structpb.NewStringValue(placeholder)}},
			}}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := loadCheckRequest(t, "create-with-new-eip.raw_body.json")
			tc.set(req)
			wire, err := marshalDeterministic(req)
			if err != nil {
				t.Fatal(err)
			}
			if len(placeholder) != len(invalid) {
				t.Fatalf("replacement %q has another length than %q", invalid, placeholder)
			}
			wire = bytes.Replace(wire, []byte(placeholder), []byte(invalid), 1)

			var parsed Request
			err = ParseCheckRequestWire(wire, &parsed)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("error = %v, want ErrInvalidRequest", err)
			}
			if want := "invalid UTF-8 in " + tc.wantField; !strings.HasSuffix(err.Error(), want) {
				t.Errorf("error = %q, want it to end with %q", err, want)
			}
			checkWireEquivalence(t, wire)
		})
	}
}

func TestParseWireReusesContextExtensions(t *testing.T) {
	req := loadCheckRequest(t, "create-with-new-eip.raw_body.json")
	req.Attributes.ContextExtensions = map[string]string{"virtual_host": "ecs-api"}
	withExtensions, err := marshalDeterministic(req)
	if err != nil {
		t.Fatal(err)
	}
	req.Attributes.ContextExtensions = nil
	without, err := marshalDeterministic(req)
	if err != nil {
		t.Fatal(err)
	}

	var parsed Request
	if err := ParseCheckRequestWire(withExtensions, &parsed); err != nil {
		t.Fatal(err)
	}
	if got := parsed.ContextExtensions["virtual_host"]; got != "ecs-api" {
		t.Errorf("ContextExtensions[virtual_host] = %q, want ecs-api", got)
	}
	if err := ParseCheckRequestWire(without, &parsed); err != nil {
		t.Fatal(err)
	}
	if parsed.ContextExtensions != nil {
		t.Errorf("ContextExtensions = %v after a request without entries, want nil", parsed.ContextExtensions)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := ParseCheckRequestWire(withExtensions, &parsed); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("ParseCheckRequestWire allocated %v times per call with a reused Request, want 0", allocs)
	}
}
