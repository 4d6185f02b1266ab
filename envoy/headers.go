package envoy

import (
	"unsafe"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"

	"github.com/ecsauthz/ecsauthz/identity"
)

var _ identity.Headers = (*Headers)(nil)

// Headers is a read-only view of the request headers in either shape of a
// CheckRequest, without copying them. In the headers map Envoy lower-cases
// names and joins repeated headers with a comma. In the header_map list,
// which Envoy sends with encode_raw_headers, each occurrence is its own
// entry. The zero value has no headers.
type Headers struct {
	byName map[string]string
	list   []*corev3.HeaderValue
	// folded replaces byName when a direct caller sent names that are not
	// lower case. It is built once per request and is nil for Envoy.
	folded map[string]foldedHeader

	// fromWire marks headers read by ParseCheckRequestWire: pairs are the
	// headers map entries and rawList the header_map entries, both aliasing
	// the wire bytes.
	fromWire bool
	pairs    []headerPair
	rawList  []headerPair
}

type foldedHeader struct {
	value string
	count int
}

// reset points h at the headers of one request. A non-empty list wins over
// the map, because Envoy fills header_map only when configured to and then
// leaves the map empty.
func (h *Headers) reset(byName map[string]string, list []*corev3.HeaderValue) {
	*h = Headers{}
	if len(list) > 0 {
		h.list = list
		return
	}
	h.byName = byName
	for name := range byName {
		if hasUpper(name) {
			h.foldNames()
			break
		}
	}
}

// foldNames builds the lower-cased index. Two map keys that differ only in
// case are two occurrences of one header, so they count twice and their
// values are joined the way Envoy joins repeated headers.
func (h *Headers) foldNames() {
	h.folded = make(map[string]foldedHeader, len(h.byName))
	for name, value := range h.byName {
		key := lowerASCII(name)
		prev, seen := h.folded[key]
		if seen {
			value = prev.value + "," + value
		}
		h.folded[key] = foldedHeader{value: value, count: prev.count + 1}
	}
}

// Header returns the value of the named header and the number of times it
// occurred. name must be lower case. The count is 0 when the header is
// absent. Repeated header_map entries are joined with a comma, matching the
// map shape. The count is 1 for a map value that Envoy already joined, so
// callers must also treat a comma inside a single-valued credential as
// ambiguous.
func (h *Headers) Header(name string) (value string, count int) {
	switch {
	case h.fromWire && len(h.rawList) > 0:
		return lookupPairs(h.rawList, name)
	case h.fromWire:
		return lookupPairs(h.pairs, name)
	case h.list != nil:
		return h.lookupList(name)
	case h.folded != nil:
		entry := h.folded[name]
		return entry.value, entry.count
	}
	value, ok := h.byName[name]
	if !ok {
		return "", 0
	}
	return value, 1
}

func (h *Headers) lookupList(name string) (value string, count int) {
	for _, header := range h.list {
		if header == nil || !equalFoldASCII(header.GetKey(), name) {
			continue
		}
		current := headerValue(header)
		if count == 0 {
			value = current
		} else {
			value = value + "," + current
		}
		count++
	}
	return value, count
}

// headerValue returns raw_value when set and value otherwise. raw_value is
// aliased, not copied, because header values are only read.
func headerValue(header *corev3.HeaderValue) string {
	if raw := header.GetRawValue(); len(raw) > 0 {
		return unsafe.String(unsafe.SliceData(raw), len(raw))
	}
	return header.GetValue()
}

func lookupPairs(pairs []headerPair, name string) (value string, count int) {
	for i := range pairs {
		if !equalFoldASCII(pairs[i].name, name) {
			continue
		}
		if count == 0 {
			value = pairs[i].value
		} else {
			value = value + "," + pairs[i].value
		}
		count++
	}
	return value, count
}

// equalFoldASCII compares header names case-insensitively in ASCII only.
// Header names are ASCII tokens, and Unicode folding would let a name such
// as "x-auth-to\u212aen" (Kelvin sign) match x-auth-token.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if lowerByte(a[i]) != lowerByte(b[i]) {
			return false
		}
	}
	return true
}

func lowerASCII(s string) string {
	if !hasUpper(s) {
		return s
	}
	lower := []byte(s)
	for i, c := range lower {
		lower[i] = lowerByte(c)
	}
	return string(lower)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
