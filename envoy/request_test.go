package envoy

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
)

// loadCheckRequest reads a protojson CheckRequest from testdata/checkrequests.
func loadCheckRequest(t testing.TB, name string) *authv3.CheckRequest {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "checkrequests", name))
	if err != nil {
		t.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(raw, req); err != nil {
		t.Fatalf("protojson.Unmarshal(%s) = %v", name, err)
	}
	return req
}

func TestParseEnvoyShapes(t *testing.T) {
	const project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	tests := []struct {
		file          string
		method        string
		target        string
		bodyPrefix    string
		bodyTruncated bool
		principal     string
		jwtUser       string
	}{
		{
			file: "create-with-new-eip.body.json", method: "POST",
			target: "/v1/" + project + "/cloudservers", bodyPrefix: `{"server":{"availability_zone":"region-1a"`,
		},
		{
			file: "create-with-new-eip.raw_body.json", method: "POST",
			target: "/v1/" + project + "/cloudservers", bodyPrefix: `{"server":{"availability_zone":"region-1a"`,
		},
		{
			file: "create-truncated-body.json", method: "POST",
			target: "/v1/" + project + "/cloudservers", bodyPrefix: `{"server":`, bodyTruncated: true,
		},
		{
			file: "list-with-jwt-authn-metadata.json", method: "GET",
			target:    "/v1/" + project + "/cloudservers/detail?limit=25&enterprise_project_id=all_granted_eps",
			principal: "spiffe://example.invalid/ns/console/sa/console", jwtUser: "u-0002",
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			var got Request
			if err := ParseCheckRequest(loadCheckRequest(t, tt.file), &got); err != nil {
				t.Fatalf("ParseCheckRequest() error = %v", err)
			}
			if got.Method != tt.method {
				t.Errorf("Method = %q, want %q", got.Method, tt.method)
			}
			if got.Target != tt.target {
				t.Errorf("Target = %q, want %q", got.Target, tt.target)
			}
			if !strings.HasPrefix(string(got.Body), tt.bodyPrefix) || (tt.bodyPrefix == "") != (got.Body == nil) {
				t.Errorf("Body = %.60q, want prefix %q", got.Body, tt.bodyPrefix)
			}
			if got.BodyTruncated != tt.bodyTruncated {
				t.Errorf("BodyTruncated = %v, want %v", got.BodyTruncated, tt.bodyTruncated)
			}
			if want := netip.MustParseAddr("192.0.2.11"); got.SourceIP != want {
				t.Errorf("SourceIP = %v, want %v", got.SourceIP, want)
			}
			if got.SourcePrincipal != tt.principal {
				t.Errorf("SourcePrincipal = %q, want %q", got.SourcePrincipal, tt.principal)
			}
			if got.RequestID != "2efd2289-9479-5f47-a776-94cdbae63838" {
				t.Errorf("RequestID = %q, want the x-request-id header", got.RequestID)
			}
			if got.ContextExtensions["virtual_host"] != "ecs-api" {
				t.Errorf("ContextExtensions = %v, want virtual_host ecs-api", got.ContextExtensions)
			}
			user := got.JWTAuthn.GetFields()["jwt_payload"].GetStructValue().GetFields()["sub"].GetStringValue()
			if user != tt.jwtUser {
				t.Errorf("JWTAuthn sub = %q, want %q", user, tt.jwtUser)
			}
			if _, count := got.Headers.Header(":authority"); count != 1 {
				t.Errorf("Header(:authority) count = %d, want 1", count)
			}
		})
	}
}

// httpRequest builds a CheckRequest around http.
func httpRequest(http *authv3.AttributeContext_HttpRequest) *authv3.CheckRequest {
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
		Request: &authv3.AttributeContext_Request{Http: http},
	}}
}

func withAddress(http *authv3.AttributeContext_HttpRequest, address *corev3.Address) *authv3.CheckRequest {
	req := httpRequest(http)
	req.Attributes.Source = &authv3.AttributeContext_Peer{Address: address}
	return req
}

func TestParseCheckRequestInvalid(t *testing.T) {
	valid := func() *authv3.AttributeContext_HttpRequest {
		return &authv3.AttributeContext_HttpRequest{Method: "GET", Path: "/v1/p/cloudservers"}
	}
	withSource := func(address string) *authv3.CheckRequest {
		req := httpRequest(valid())
		req.Attributes.Source = &authv3.AttributeContext_Peer{Address: &corev3.Address{
			Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: address}},
		}}
		return req
	}
	tests := []struct {
		name    string
		req     *authv3.CheckRequest
		errText string
	}{
		{name: "nil request", req: nil, errText: "attributes.request.http is missing"},
		{name: "no attributes", req: &authv3.CheckRequest{}, errText: "attributes.request.http is missing"},
		{name: "no http", req: &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{}}}, errText: "attributes.request.http is missing"},
		{name: "no method", req: httpRequest(&authv3.AttributeContext_HttpRequest{Path: "/"}), errText: `method "" is not an HTTP method`},
		{name: "method with space", req: httpRequest(&authv3.AttributeContext_HttpRequest{Method: "GET /", Path: "/"}), errText: `method "GET /"`},
		{name: "no path", req: httpRequest(&authv3.AttributeContext_HttpRequest{Method: "GET"}), errText: "attributes.request.http.path is missing"},
		{
			name:    "body and raw body",
			req:     httpRequest(&authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/", Body: "{}", RawBody: []byte("{}")}),
			errText: "both attributes.request.http.body and raw_body are set",
		},
		{name: "bad source address", req: withSource("not-an-ip"), errText: `attributes.source.address "not-an-ip"`},
		{name: "empty source address", req: withSource(""), errText: `attributes.source.address ""`},
		{name: "pipe source address", req: withAddress(valid(), &corev3.Address{
			Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/run/envoy.sock"}},
		}), errText: "attributes.source.address is not a socket address"},
		{name: "source address without member", req: withAddress(valid(), &corev3.Address{}), errText: "is not a socket address"},
		{
			name: "headers and header map",
			req: httpRequest(&authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/", Headers: map[string]string{"authorization": "Bearer a"},
				HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "authorization", RawValue: []byte("Bearer b")}}},
			}),
			errText: "both attributes.request.http.headers and header_map are set",
		},
		{
			name: "header value and raw value",
			req: httpRequest(&authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/",
				HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: "authorization", Value: "Bearer a", RawValue: []byte("Bearer b")}}},
			}),
			errText: "sets both value and raw_value",
		},
		{
			name: "path differs from :path",
			req: httpRequest(&authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/v1/p/cloudservers", Headers: map[string]string{":path": "/v1/q/cloudservers", ":method": "GET"},
			}),
			errText: "differs from the :path header",
		},
		{
			name: "method differs from :method",
			req: httpRequest(&authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/", Headers: map[string]string{":path": "/", ":method": "DELETE"},
			}),
			errText: "differs from the :method header",
		},
		{
			name: ":path in header map differs",
			req: httpRequest(&authv3.AttributeContext_HttpRequest{
				Method: "GET", Path: "/",
				HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{{Key: ":path", RawValue: []byte("/admin")}}},
			}),
			errText: "differs from the :path header",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			err := ParseCheckRequest(tt.req, &got)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("ParseCheckRequest() error = %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("ParseCheckRequest() error = %q, want it to contain %q", err, tt.errText)
			}

			wire, marshalErr := marshalDeterministic(tt.req)
			if marshalErr != nil {
				t.Fatal(marshalErr)
			}
			err = ParseCheckRequestWire(wire, &got)
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("ParseCheckRequestWire() error = %v, want ErrInvalidRequest", err)
			}
			if !strings.Contains(err.Error(), tt.errText) {
				t.Errorf("ParseCheckRequestWire() error = %q, want it to contain %q", err, tt.errText)
			}
		})
	}

	var got Request
	if err := ParseCheckRequest(withSource("2001:db8::1"), &got); err != nil {
		t.Fatalf("ParseCheckRequest(IPv6 source) error = %v", err)
	}
	if got.SourceIP != netip.MustParseAddr("2001:db8::1") {
		t.Errorf("SourceIP = %v, want 2001:db8::1", got.SourceIP)
	}
}

func TestHeaderShapes(t *testing.T) {
	headerMap := httpRequest(&authv3.AttributeContext_HttpRequest{
		Method: "GET", Path: "/", Id: "42",
		HeaderMap: &corev3.HeaderMap{Headers: []*corev3.HeaderValue{
			{Key: "authorization", RawValue: []byte("Bearer a")},
			{Key: "Authorization", Value: "Bearer b"},
			nil,
			{Key: "x-envoy-auth-partial-body", RawValue: []byte("true")},
			{Key: "accept", Value: "application/json"},
		}},
	})
	mixedCase := httpRequest(&authv3.AttributeContext_HttpRequest{
		Method: "GET", Path: "/",
		Headers: map[string]string{"X-Auth-Token": "t1", "x-auth-token": "t2", "Accept": "text/plain", "x-request-id": "r-1"},
	})

	tests := []struct {
		name      string
		req       *authv3.CheckRequest
		header    string
		value     string
		count     int
		truncated bool
		requestID string
	}{
		{name: "header map repeated", req: headerMap, header: "authorization", value: "Bearer a,Bearer b", count: 2, truncated: true, requestID: "42"},
		{name: "header map single", req: headerMap, header: "accept", value: "application/json", count: 1, truncated: true, requestID: "42"},
		{name: "header map absent", req: headerMap, header: "x-auth-token", truncated: true, requestID: "42"},
		{name: "mixed case folded", req: mixedCase, header: "accept", value: "text/plain", count: 1, requestID: "r-1"},
		{name: "mixed case duplicate", req: mixedCase, header: "x-auth-token", count: 2, requestID: "r-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Request
			if err := ParseCheckRequest(tt.req, &got); err != nil {
				t.Fatalf("ParseCheckRequest() error = %v", err)
			}
			value, count := got.Headers.Header(tt.header)
			if count != tt.count {
				t.Errorf("Header(%s) count = %d, want %d", tt.header, count, tt.count)
			}
			// Map iteration order decides the join order of folded
			// duplicates, so only single values are compared.
			if tt.value != "" && value != tt.value {
				t.Errorf("Header(%s) = %q, want %q", tt.header, value, tt.value)
			}
			if got.BodyTruncated != tt.truncated {
				t.Errorf("BodyTruncated = %v, want %v", got.BodyTruncated, tt.truncated)
			}
			if got.RequestID != tt.requestID {
				t.Errorf("RequestID = %q, want %q", got.RequestID, tt.requestID)
			}
		})
	}
}

// FuzzParseCheckRequest decodes arbitrary bytes the way the gRPC codec
// does and parses the result. No input may panic, and every parsed request
// must have a method and a target. Run it with
//
//	go test ./envoy -run '^$' -fuzz FuzzParseCheckRequest -fuzztime 30s
func FuzzParseCheckRequest(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "checkrequests"))
	if err != nil {
		f.Fatal(err)
	}
	for _, entry := range entries {
		wire, err := marshalDeterministic(loadCheckRequest(f, entry.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(wire)
	}
	f.Add([]byte{0x0a, 0x02, 0x22, 0x00})
	f.Add([]byte{0xff, 0xff, 0xff})

	f.Fuzz(func(t *testing.T, wire []byte) {
		req := &authv3.CheckRequest{}
		UnmarshalCheckRequest(wire, req)
		var got Request
		err := ParseCheckRequest(req, &got)
		if err != nil {
			if !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("ParseCheckRequest() error = %v, want ErrInvalidRequest", err)
			}
			return
		}
		if got.Method == "" || got.Target == "" {
			t.Fatalf("ParseCheckRequest() accepted %+v without method or target", got)
		}
		got.Headers.Header("authorization")
		Response(&Result{Reason: "implicit_deny", DeniedAction: got.Method})
	})
}

// TestBodyTruncatedFailsClosed checks that every partial-body marker other
// than exactly "false", a repeated marker and a body shorter than the
// request size count as a truncated body, in both parsers.
func TestBodyTruncatedFailsClosed(t *testing.T) {
	withMarker := func(values ...string) *authv3.CheckRequest {
		var headers []*corev3.HeaderValue
		for _, value := range values {
			headers = append(headers, &corev3.HeaderValue{Key: PartialBodyHeader, RawValue: []byte(value)})
		}
		return httpRequest(&authv3.AttributeContext_HttpRequest{
			Method: "POST", Path: "/", RawBody: []byte("{}"), HeaderMap: &corev3.HeaderMap{Headers: headers},
		})
	}
	withSize := func(size int64, body string) *authv3.CheckRequest {
		return httpRequest(&authv3.AttributeContext_HttpRequest{Method: "POST", Path: "/", Size: size, RawBody: []byte(body)})
	}
	for _, tc := range []struct {
		name string
		req  *authv3.CheckRequest
		want bool
	}{
		{"no marker", withMarker(), false},
		{"false", withMarker("false"), false},
		{"true", withMarker("true"), true},
		{"upper case", withMarker("TRUE"), true},
		{"leading space", withMarker(" true"), true},
		{"one", withMarker("1"), true},
		{"yes", withMarker("yes"), true},
		{"empty", withMarker(""), true},
		{"repeated false", withMarker("false", "false"), true},
		{"size matches body", withSize(2, "{}"), false},
		{"size unknown", withSize(-1, "{}"), false},
		{"body shorter than size", withSize(10, "{}"), true},
		{"no body with size", withSize(10, ""), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got Request
			if err := ParseCheckRequest(tc.req, &got); err != nil {
				t.Fatalf("ParseCheckRequest() error = %v", err)
			}
			if got.BodyTruncated != tc.want {
				t.Errorf("ParseCheckRequest() BodyTruncated = %v, want %v", got.BodyTruncated, tc.want)
			}

			wire, err := marshalDeterministic(tc.req)
			if err != nil {
				t.Fatal(err)
			}
			if err := ParseCheckRequestWire(wire, &got); err != nil {
				t.Fatalf("ParseCheckRequestWire() error = %v", err)
			}
			if got.BodyTruncated != tc.want {
				t.Errorf("ParseCheckRequestWire() BodyTruncated = %v, want %v", got.BodyTruncated, tc.want)
			}
		})
	}
}
