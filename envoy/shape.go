package envoy

import (
	"fmt"
	"net/netip"
)

// requestShape contains the facts about a CheckRequest that the fail-closed
// checks of [checkShape] need. ParseCheckRequest and ParseCheckRequestWire
// each gather them and share the checks, so both reject the same requests.
type requestShape struct {
	// headers and headerMap count the entries of the headers map and of
	// the header_map list.
	headers, headerMap int
	// valueAndRaw is set when a header_map entry sets both value and
	// raw_value.
	valueAndRaw bool
	// size is attributes.request.http.size, the request size Envoy saw,
	// 0 or -1 when unknown.
	size int64
	// address is the kind of attributes.source.address, and
	// socketAddress its IP when the kind is addressSocket.
	address       addressKind
	socketAddress string
}

type addressKind uint8

const (
	// addressAbsent is a request without source or without
	// source.address. Such a request has no source IP, and conditions on
	// g:SourceIp treat the key as absent.
	addressAbsent addressKind = iota
	addressSocket
	// addressOther is a pipe or Envoy-internal address, or an Address with
	// no member set.
	addressOther
)

// checkShape rejects requests whose fields contradict each other, and sets
// out.BodyTruncated and out.SourceIP. Every ambiguity fails closed: it is
// either an invalid request or a truncated body, never a silent choice.
func checkShape(out *Request, shape *requestShape) error {
	if shape.headers > 0 && shape.headerMap > 0 {
		return fmt.Errorf("%w: both attributes.request.http.headers and header_map are set", ErrInvalidRequest)
	}
	if shape.valueAndRaw {
		return fmt.Errorf("%w: a header_map entry sets both value and raw_value", ErrInvalidRequest)
	}
	if path, count := out.Headers.Header(":path"); count > 0 && path != out.Target {
		return fmt.Errorf("%w: attributes.request.http.path %q differs from the :path header %q", ErrInvalidRequest, out.Target, path)
	}
	if method, count := out.Headers.Header(":method"); count > 0 && method != out.Method {
		return fmt.Errorf("%w: attributes.request.http.method %q differs from the :method header %q", ErrInvalidRequest, out.Method, method)
	}

	// Any partial-body marker other than exactly "false", including a
	// repeated one, means the body may be cut. So does a body shorter than
	// the request size Envoy reports.
	partial, count := out.Headers.Header(PartialBodyHeader)
	out.BodyTruncated = (count > 0 && partial != "false") || (shape.size > 0 && int64(len(out.Body)) < shape.size)

	switch shape.address {
	case addressSocket:
		ip, err := netip.ParseAddr(shape.socketAddress)
		if err != nil {
			return fmt.Errorf("%w: attributes.source.address %q is not an IP address", ErrInvalidRequest, shape.socketAddress)
		}
		out.SourceIP = ip
	case addressOther:
		return fmt.Errorf("%w: attributes.source.address is not a socket address", ErrInvalidRequest)
	}
	return nil
}
