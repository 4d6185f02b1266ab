// Package envoy adapts Envoy's ext_authz gRPC messages to ecsauthz and back.
//
// The request side, [ParseCheckRequest], reads a CheckRequest through the
// nil-safe generated getters into a transport-neutral [Request]. Any missing
// or malformed part becomes an error wrapping [ErrInvalidRequest], which the
// caller turns into a deny, never a panic. [ParseCheckRequestWire] gives the
// same result straight from the wire bytes, without decoding the whole
// message.
//
// The response side, [Responder], turns a [Result] into a CheckResponse:
// status OK with upstream headers for an allow, or a non-OK status with a
// denied_response for every deny.
//
// [Codec] lets a gRPC server respond to CheckRequests that the standard
// codec cannot decode.
package envoy

import (
	"errors"
	"fmt"
	"net/netip"
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/types/known/structpb"
)

// ErrInvalidRequest means the CheckRequest lacks a required attribute or
// carries a malformed one. The wrapping error names the attribute.
var ErrInvalidRequest = errors.New("invalid check request")

// Names of the Envoy attributes and headers this package reads.
const (
	// JWTAuthnNamespace is the filter_metadata namespace where Envoy's
	// jwt_authn filter stores verified token payloads.
	JWTAuthnNamespace = "envoy.filters.http.jwt_authn"

	// PartialBodyHeader is set by Envoy to "true" when it cut the buffered
	// body at with_request_body.max_request_bytes. Envoy strips the header
	// when a client sends it.
	PartialBodyHeader = "x-envoy-auth-partial-body"

	// RequestIDHeader correlates logs across Envoy and ecsauthz.
	RequestIDHeader = "x-request-id"
)

// Request is one HTTP request as Envoy described it in a CheckRequest. The
// strings and slices alias the CheckRequest's memory, so a Request is valid
// only as long as that message is not modified.
type Request struct {
	// Method is the HTTP method, as sent (upper case from Envoy).
	Method string
	// Target is the raw request target from attributes.request.http.path:
	// the path with its query, not percent-decoded.
	Target string
	// Headers reads the request headers from whichever shape Envoy sent.
	Headers Headers
	// Body is the buffered request body from raw_body or body, nil when
	// Envoy sent none. It aliases the message, so callers must not modify it.
	Body []byte
	// BodyTruncated is true when Envoy cut the body at max_request_bytes.
	BodyTruncated bool
	// SourceIP is the downstream peer address, the zero Addr when the
	// request has no attributes.source.address. A pipe or other non-socket
	// address is rejected as an invalid request.
	SourceIP netip.Addr
	// SourcePrincipal is the peer certificate identity (a SPIFFE ID in a
	// mesh), "" without mTLS.
	SourcePrincipal string
	// JWTAuthn is the jwt_authn filter metadata struct, nil when absent.
	JWTAuthn *structpb.Struct
	// ContextExtensions are the per-route values from the ext_authz filter
	// configuration, nil when none are set.
	ContextExtensions map[string]string
	// RequestID is the x-request-id header, or Envoy's stream id when the
	// header is absent.
	RequestID string

	// extensionStorage is the ContextExtensions map that
	// ParseCheckRequestWire reuses across calls.
	extensionStorage map[string]string
}

// ParseCheckRequest fills out from req. It resets out first, so one Request
// may be reused. A nil req or a missing method or path yields an error
// wrapping [ErrInvalidRequest], and so does a request that [Codec] could only
// decode after replacing invalid UTF-8.
func ParseCheckRequest(req *authv3.CheckRequest, out *Request) error {
	*out = Request{}
	if field, ok := DecodeFailure(req); ok {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, field)
	}

	attrs := req.GetAttributes()
	http := attrs.GetRequest().GetHttp()
	if http == nil {
		return fmt.Errorf("%w: attributes.request.http is missing", ErrInvalidRequest)
	}

	out.Method = http.GetMethod()
	if !isToken(out.Method) {
		return fmt.Errorf("%w: attributes.request.http.method %q is not an HTTP method", ErrInvalidRequest, out.Method)
	}
	out.Target = http.GetPath()
	if out.Target == "" {
		return fmt.Errorf("%w: attributes.request.http.path is missing", ErrInvalidRequest)
	}

	out.Headers.reset(http.GetHeaders(), http.GetHeaderMap().GetHeaders())
	if err := parseBody(http, out); err != nil {
		return err
	}
	out.SourcePrincipal = attrs.GetSource().GetPrincipal()
	shape := requestShape{
		headers:   len(http.GetHeaders()),
		headerMap: len(http.GetHeaderMap().GetHeaders()),
		size:      http.GetSize(),
	}
	for _, header := range http.GetHeaderMap().GetHeaders() {
		if header.GetValue() != "" && len(header.GetRawValue()) > 0 {
			shape.valueAndRaw = true
		}
	}
	if address := attrs.GetSource().GetAddress(); address != nil {
		shape.address = addressOther
		if socket, ok := address.GetAddress().(*corev3.Address_SocketAddress); ok {
			shape.address = addressSocket
			shape.socketAddress = socket.SocketAddress.GetAddress()
		}
	}
	if err := checkShape(out, &shape); err != nil {
		return err
	}

	out.JWTAuthn = attrs.GetMetadataContext().GetFilterMetadata()[JWTAuthnNamespace]
	out.ContextExtensions = attrs.GetContextExtensions()
	out.RequestID, _ = out.Headers.Header(RequestIDHeader)
	if out.RequestID == "" {
		out.RequestID = http.GetId()
	}
	return nil
}

// parseBody takes the body from raw_body (pack_as_bytes) or body. Envoy sets
// at most one of them, so a request carrying both is rejected as ambiguous.
func parseBody(http *authv3.AttributeContext_HttpRequest, out *Request) error {
	raw := http.GetRawBody()
	text := http.GetBody()
	switch {
	case len(raw) > 0 && text != "":
		return fmt.Errorf("%w: both attributes.request.http.body and raw_body are set", ErrInvalidRequest)
	case len(raw) > 0:
		out.Body = raw
	case text != "":
		// The body is only read, so it aliases the string instead of copying
		// a body of up to max_request_bytes on every request.
		out.Body = unsafe.Slice(unsafe.StringData(text), len(text))
	}
	return nil
}

// isToken reports whether s is a non-empty RFC 9110 token, the syntax of an
// HTTP method.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenChar(s[i]) {
			return false
		}
	}
	return true
}

func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
