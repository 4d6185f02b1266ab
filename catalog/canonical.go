package catalog

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Canonicalize splits a raw request target into its canonical path and raw
// query. It is the only path normalization in ecsauthz, and it rejects every
// target whose meaning could differ between this service and the upstream
// API, instead of repairing it.
//
// The contract, applied in this order:
//
//   - The target must start with '/'. Absolute-form ("http://host/x"),
//     asterisk-form and empty targets are rejected.
//   - The query starts at the first '?' and is returned raw, without the '?'.
//     An encoded "%3F" stays inside its path segment.
//   - A '#', a ';' (path parameter), a '\', a control character, a space or a
//     byte outside ASCII anywhere in the path is rejected.
//   - The path is split on '/', and each segment is percent-decoded exactly
//     once. A malformed escape ("%zz", a bare '%') is rejected.
//   - A decoded segment must not be empty (except the last one, so a trailing
//     '/' is kept and then matches no route), must not be "." or "..", must
//     be valid UTF-8 and must not contain '/', '\', NUL or another control
//     character. So "%2e", "%2F", "%5c" and "%00" are rejected in either case.
//
// The returned path is the decoded segments joined by '/', each segment
// percent-encoded again in one canonical way: letters, digits and
// "-._~!$&'()*+,=:@" stay as they are, and every other byte becomes an
// upper-case "%XX" escape. So "/v1/p%31/s%2d1" and "/v1/p1/s-1" have the same
// canonical path, a template literal equals the canonical form of any
// segment that decodes to it, and Canonicalize(path) returns path unchanged.
// When the path has no '%' and no byte that needs an escape, the returned
// path is a substring of target and Canonicalize does not allocate. Errors
// wrap [ErrInvalidPath] and quote the rejected fragment.
func Canonicalize(target string) (path, query string, err error) {
	if target == "" || target[0] != '/' {
		return "", "", fmt.Errorf("%w: target %q does not start with '/'", ErrInvalidPath, truncate(target))
	}

	path = target
	if i := strings.IndexByte(target, '?'); i >= 0 {
		path, query = target[:i], target[i+1:]
	}

	// One pass over the path: reject forbidden bytes, and check each
	// segment that needs no decoding for emptiness and dot segments.
	rewrite := false
	segmentStart := 1
	for i := 1; i <= len(path); i++ {
		if i == len(path) || path[i] == '/' {
			notLast := i < len(path)
			if !rewrite {
				if err := checkPlainSegment(path[segmentStart:i], notLast); err != nil {
					return "", "", err
				}
			}
			segmentStart = i + 1
			continue
		}
		switch c := path[i]; byteClasses[c] {
		case classRejected:
			return "", "", fmt.Errorf("%w: byte %s at offset %d of %q", ErrInvalidPath, quoteByte(c), i, truncate(path))
		case classEscaped:
			rewrite = true
		}
	}
	if !rewrite {
		return path, query, nil
	}

	canonical, err := rewriteSegments(path)
	if err != nil {
		return "", "", err
	}
	return canonical, query, nil
}

// checkPlainSegment validates a segment that contains only canonical bytes.
func checkPlainSegment(segment string, notLast bool) error {
	switch {
	case segment == "" && notLast:
		return fmt.Errorf("%w: empty path segment", ErrInvalidPath)
	case segment == "." || segment == "..":
		return fmt.Errorf("%w: dot segment %q", ErrInvalidPath, segment)
	}
	return nil
}

// Byte classes of a raw request path.
const (
	classCanonical = iota // appears as is in a canonical path
	classEscaped          // '%' or a byte that a canonical path escapes
	classRejected         // never allowed in a raw path
)

var byteClasses = func() (classes [256]byte) {
	for c := range 256 {
		switch {
		case c == '#' || c == ';' || c == '\\' || c <= ' ' || c >= 0x7f:
			classes[c] = classRejected
		case isCanonicalByte(byte(c)):
			classes[c] = classCanonical
		default:
			classes[c] = classEscaped
		}
	}
	return classes
}()

// isCanonicalByte reports whether c appears unescaped in a canonical path
// segment: the RFC 3986 unreserved characters and the sub-delimiters, ':'
// and '@', except ';'.
func isCanonicalByte(c byte) bool {
	if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
		return true
	}
	return strings.IndexByte("-._~!$&'()*+,=:@", c) >= 0
}

// rewriteSegments percent-decodes each segment of path once, validates it
// and joins the segments again in canonical encoding.
func rewriteSegments(path string) (string, error) {
	var b strings.Builder
	b.Grow(len(path) + 8)

	rest := path[1:]
	for {
		raw, next, more := strings.Cut(rest, "/")
		segment, err := unescapeSegment(raw)
		if err != nil {
			return "", err
		}
		if err := checkSegment(segment, raw, more); err != nil {
			return "", err
		}
		b.WriteByte('/')
		writeEscaped(&b, segment)
		if !more {
			return b.String(), nil
		}
		rest = next
	}
}

func writeEscaped(b *strings.Builder, segment string) {
	const hexDigits = "0123456789ABCDEF"
	for i := 0; i < len(segment); i++ {
		c := segment[i]
		if isCanonicalByte(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
}

// checkSegment validates one decoded segment. raw is the segment as sent, for
// the error message. notLast is false for the final segment of the path, the
// only one that may be empty.
func checkSegment(segment, raw string, notLast bool) error {
	switch {
	case segment == "" && notLast:
		return fmt.Errorf("%w: empty path segment", ErrInvalidPath)
	case segment == "." || segment == "..":
		return fmt.Errorf("%w: dot segment %q", ErrInvalidPath, raw)
	case !utf8.ValidString(segment):
		return fmt.Errorf("%w: segment %q is not valid UTF-8", ErrInvalidPath, raw)
	}
	for i := 0; i < len(segment); i++ {
		c := segment[i]
		if c == '/' || c == '\\' || c < ' ' || c == 0x7f {
			return fmt.Errorf("%w: segment %q decodes to byte %s", ErrInvalidPath, raw, quoteByte(c))
		}
	}
	return nil
}

// unescapeSegment percent-decodes one path segment. Unlike url.PathUnescape
// it leaves '+' alone and reports the malformed escape it found.
func unescapeSegment(raw string) (string, error) {
	if strings.IndexByte(raw, '%') < 0 {
		return raw, nil
	}
	buf := make([]byte, 0, len(raw))
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c != '%' {
			buf = append(buf, c)
			continue
		}
		if i+2 >= len(raw) {
			return "", fmt.Errorf("%w: malformed escape %q in segment %q", ErrInvalidPath, raw[i:], raw)
		}
		high, okHigh := unhex(raw[i+1])
		low, okLow := unhex(raw[i+2])
		if !okHigh || !okLow {
			return "", fmt.Errorf("%w: malformed escape %q in segment %q", ErrInvalidPath, raw[i:i+3], raw)
		}
		buf = append(buf, high<<4|low)
		i += 2
	}
	return string(buf), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// truncate shortens s for error messages, so that a hostile target cannot
// make an error (and the log line that records it) arbitrarily long.
func truncate(s string) string {
	const maxLen = 128
	if len(s) <= maxLen {
		return s
	}
	return s[:maxLen] + "..."
}

// quoteByte quotes one byte as a Go string literal, so that a byte outside
// ASCII shows as "\xe4" and not as the character with that code point.
func quoteByte(c byte) string {
	return strconv.Quote(string([]byte{c}))
}
