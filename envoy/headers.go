package envoy

import (
	"strings"
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
		key := strings.ToLower(name)
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
		if header == nil || !strings.EqualFold(header.GetKey(), name) {
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

// Len returns the number of header entries: map keys or header_map entries.
func (h *Headers) Len() int {
	if h.list != nil {
		return len(h.list)
	}
	return len(h.byName)
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return true
		}
	}
	return false
}
