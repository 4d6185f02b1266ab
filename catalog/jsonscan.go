package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"unicode"
	"unicode/utf8"
)

// This file reads request bodies for body rules without building a document
// tree. validateJSON checks the whole body once. It requires RFC 8259
// grammar, valid UTF-8, at most maxBodyDepth levels, nothing after the
// top-level value and no two keys in one object that are equal under Unicode
// simple case folding. Keys are compared after unescaping, as encoding/json
// decodes them. The lookup functions then walk the validated bytes to the few
// fields a rule reads. Neither step
// allocates, except for an object with more than maxInlineKeys keys and for
// a key or returned string that contains an escape.

// jsonSpan is a JSON value inside a body: data[start:end].
type jsonSpan struct {
	data       []byte
	start, end int
}

// maxInlineKeys is the number of keys per object that duplicate detection
// compares pairwise. Larger objects switch to a map.
const maxInlineKeys = 32

type jsonValidator struct {
	data []byte
	pos  int
	keys [][]byte // keys of the open objects, innermost last
}

// keyBuffers holds the key stacks of finished validations, so that a
// validation does not allocate one.
var keyBuffers = sync.Pool{New: func() any {
	buffer := make([][]byte, 0, 2*maxInlineKeys)
	return &buffer
}}

// validateJSON checks that data is one JSON object as described above.
func validateJSON(data []byte) error {
	buffer := keyBuffers.Get().(*[][]byte)
	v := jsonValidator{data: data, keys: (*buffer)[:0]}
	defer func() {
		// Drop the references into data before the buffer is reused.
		clear(v.keys[:cap(v.keys)])
		*buffer = v.keys[:0]
		keyBuffers.Put(buffer)
	}()

	v.skipSpace()
	if v.pos >= len(v.data) || v.data[v.pos] != '{' {
		return errors.New("the body is not a JSON object")
	}
	if err := v.value(0); err != nil {
		return err
	}
	v.skipSpace()
	if v.pos != len(v.data) {
		return fmt.Errorf("data after the top-level JSON value at offset %d", v.pos)
	}
	return nil
}

func (v *jsonValidator) skipSpace() {
	for v.pos < len(v.data) {
		switch v.data[v.pos] {
		case ' ', '\t', '\n', '\r':
			v.pos++
		default:
			return
		}
	}
}

// syntaxError describes the byte at v.pos, where expected should be.
func (v *jsonValidator) syntaxError(expected string) error {
	if v.pos >= len(v.data) {
		return fmt.Errorf("unexpected end of JSON input, want %s", expected)
	}
	return fmt.Errorf("invalid character %s at offset %d, want %s", quoteByte(v.data[v.pos]), v.pos, expected)
}

// value validates the value at v.pos, which sits depth containers deep.
func (v *jsonValidator) value(depth int) error {
	if depth >= maxBodyDepth {
		return fmt.Errorf("JSON nesting deeper than %d levels", maxBodyDepth)
	}
	v.skipSpace()
	if v.pos >= len(v.data) {
		return v.syntaxError("a value")
	}
	switch c := v.data[v.pos]; {
	case c == '{':
		return v.object(depth)
	case c == '[':
		return v.array(depth)
	case c == '"':
		_, _, err := v.string()
		return err
	case c == '-' || '0' <= c && c <= '9':
		return v.number()
	case c == 't':
		return v.literal("true")
	case c == 'f':
		return v.literal("false")
	case c == 'n':
		return v.literal("null")
	}
	return v.syntaxError("a value")
}

func (v *jsonValidator) object(depth int) error {
	v.pos++ // '{'
	first := len(v.keys)
	var seen map[string][]byte // used once the object has more than maxInlineKeys keys
	defer func() { v.keys = v.keys[:first] }()

	v.skipSpace()
	if v.pos < len(v.data) && v.data[v.pos] == '}' {
		v.pos++
		return nil
	}
	for {
		v.skipSpace()
		if v.pos >= len(v.data) || v.data[v.pos] != '"' {
			return v.syntaxError("an object key")
		}
		raw, escaped, err := v.string()
		if err != nil {
			return err
		}
		key := raw
		if escaped {
			key = []byte(unquoteJSON(raw))
		}
		if seen, err = v.addKey(first, key, seen); err != nil {
			return err
		}

		v.skipSpace()
		if v.pos >= len(v.data) || v.data[v.pos] != ':' {
			return v.syntaxError("':' after an object key")
		}
		v.pos++
		if err := v.value(depth + 1); err != nil {
			return err
		}

		v.skipSpace()
		if v.pos >= len(v.data) {
			return v.syntaxError("',' or '}'")
		}
		switch v.data[v.pos] {
		case ',':
			v.pos++
		case '}':
			v.pos++
			return nil
		default:
			return v.syntaxError("',' or '}'")
		}
	}
}

// addKey records key for the object whose keys start at index first, and
// rejects a key equal to an earlier one under case folding. encoding/json
// and other case-insensitive decoders decode such keys into the same field,
// so "server" and "Server" are duplicates. The map, used for
// large objects, maps each key's folded form to the key.
func (v *jsonValidator) addKey(first int, key []byte, seen map[string][]byte) (map[string][]byte, error) {
	if seen != nil {
		folded := foldKey(key)
		if earlier, ok := seen[folded]; ok {
			return nil, duplicateKeyError(earlier, key)
		}
		seen[folded] = key
		return seen, nil
	}

	for _, k := range v.keys[first:] {
		if bytes.EqualFold(k, key) {
			return nil, duplicateKeyError(k, key)
		}
	}
	v.keys = append(v.keys, key)
	if len(v.keys)-first > maxInlineKeys {
		seen = make(map[string][]byte, 2*maxInlineKeys)
		for _, k := range v.keys[first:] {
			seen[foldKey(k)] = k
		}
	}
	return seen, nil
}

func duplicateKeyError(earlier, key []byte) error {
	if bytes.Equal(earlier, key) {
		return fmt.Errorf("duplicate key %q", truncate(string(key)))
	}
	return fmt.Errorf("duplicate key %q: it differs from %q only in letter case", truncate(string(key)), truncate(string(earlier)))
}

// foldKey returns a form of key that is equal for two keys exactly when
// bytes.EqualFold reports them equal: each rune becomes the smallest rune of
// its simple case folding orbit.
func foldKey(key []byte) string {
	folded := make([]rune, 0, len(key))
	for _, r := range string(key) {
		smallest := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			smallest = min(smallest, f)
		}
		folded = append(folded, smallest)
	}
	return string(folded)
}

func (v *jsonValidator) array(depth int) error {
	v.pos++ // '['
	v.skipSpace()
	if v.pos < len(v.data) && v.data[v.pos] == ']' {
		v.pos++
		return nil
	}
	for {
		if err := v.value(depth + 1); err != nil {
			return err
		}
		v.skipSpace()
		if v.pos >= len(v.data) {
			return v.syntaxError("',' or ']'")
		}
		switch v.data[v.pos] {
		case ',':
			v.pos++
		case ']':
			v.pos++
			return nil
		default:
			return v.syntaxError("',' or ']'")
		}
	}
}

// string validates the string at v.pos and returns its raw content without
// the quotes, and whether it contains an escape.
func (v *jsonValidator) string() (raw []byte, escaped bool, err error) {
	v.pos++ // '"'
	start := v.pos
	for v.pos < len(v.data) {
		c := v.data[v.pos]
		switch {
		case c == '"':
			raw = v.data[start:v.pos]
			v.pos++
			return raw, escaped, nil
		case c == '\\':
			escaped = true
			if err := v.escape(); err != nil {
				return nil, false, err
			}
		case c < 0x20:
			return nil, false, v.syntaxError("a string character (control characters must be escaped)")
		case c < utf8.RuneSelf:
			v.pos++
		default:
			r, size := utf8.DecodeRune(v.data[v.pos:])
			if r == utf8.RuneError && size == 1 {
				return nil, false, fmt.Errorf("invalid UTF-8 in a string at offset %d", v.pos)
			}
			v.pos += size
		}
	}
	return nil, false, v.syntaxError("the end of a string")
}

func (v *jsonValidator) escape() error {
	v.pos++ // '\'
	if v.pos >= len(v.data) {
		return v.syntaxError("an escape character")
	}
	switch v.data[v.pos] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		v.pos++
		return nil
	case 'u':
		v.pos++
		for range 4 {
			if v.pos >= len(v.data) {
				return v.syntaxError("a hexadecimal digit")
			}
			if _, ok := unhex(v.data[v.pos]); !ok {
				return v.syntaxError("a hexadecimal digit")
			}
			v.pos++
		}
		return nil
	}
	return v.syntaxError("an escape character")
}

// number validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?.
func (v *jsonValidator) number() error {
	if v.data[v.pos] == '-' {
		v.pos++
	}
	switch {
	case v.pos < len(v.data) && v.data[v.pos] == '0':
		v.pos++
	case v.pos < len(v.data) && '1' <= v.data[v.pos] && v.data[v.pos] <= '9':
		v.digits()
	default:
		return v.syntaxError("a digit")
	}
	if v.pos < len(v.data) && v.data[v.pos] == '.' {
		v.pos++
		if v.digits() == 0 {
			return v.syntaxError("a digit after the decimal point")
		}
	}
	if v.pos < len(v.data) && (v.data[v.pos] == 'e' || v.data[v.pos] == 'E') {
		v.pos++
		if v.pos < len(v.data) && (v.data[v.pos] == '+' || v.data[v.pos] == '-') {
			v.pos++
		}
		if v.digits() == 0 {
			return v.syntaxError("a digit in the exponent")
		}
	}
	return nil
}

func (v *jsonValidator) digits() int {
	n := 0
	for v.pos < len(v.data) && '0' <= v.data[v.pos] && v.data[v.pos] <= '9' {
		v.pos++
		n++
	}
	return n
}

func (v *jsonValidator) literal(word string) error {
	if !bytes.HasPrefix(v.data[v.pos:], []byte(word)) {
		return v.syntaxError(word)
	}
	v.pos += len(word)
	return nil
}

// unquoteJSON decodes the raw content of a valid JSON string that contains
// escapes, with the same result as encoding/json.
func unquoteJSON(raw []byte) string {
	quoted := make([]byte, 0, len(raw)+2)
	quoted = append(quoted, '"')
	quoted = append(quoted, raw...)
	quoted = append(quoted, '"')
	var s string
	if err := json.Unmarshal(quoted, &s); err != nil {
		panic("catalog: validated JSON string does not decode: " + err.Error())
	}
	return s
}

// The functions below walk a body that validateJSON accepted, so they do not
// report syntax errors.

// skipValue returns the offset just past the value that starts at pos, which
// may be preceded by white space.
func skipValue(data []byte, pos int) int {
	pos = skipJSONSpace(data, pos)
	switch data[pos] {
	case '{', '[':
		depth := 0
		for {
			switch data[pos] {
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return pos + 1
				}
			case '"':
				pos = skipString(data, pos) - 1
			}
			pos++
		}
	case '"':
		return skipString(data, pos)
	}
	for pos < len(data) && !isJSONDelimiter(data[pos]) {
		pos++
	}
	return pos
}

func isJSONDelimiter(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// skipString returns the offset just past the string that starts at pos.
func skipString(data []byte, pos int) int {
	pos++ // '"'
	for data[pos] != '"' {
		if data[pos] == '\\' {
			pos++
		}
		pos++
	}
	return pos + 1
}

func skipJSONSpace(data []byte, pos int) int {
	for pos < len(data) {
		switch data[pos] {
		case ' ', '\t', '\n', '\r':
			pos++
		default:
			return pos
		}
	}
	return pos
}

// members calls visit for each member of the object at span, with the raw
// key (quotes removed, escapes kept) and the member's value. It stops when
// visit returns false.
func (s jsonSpan) members(visit func(rawKey []byte, value jsonSpan) bool) {
	pos := skipJSONSpace(s.data, s.start) + 1 // '{'
	for {
		pos = skipJSONSpace(s.data, pos)
		if s.data[pos] == '}' {
			return
		}
		if s.data[pos] == ',' {
			pos = skipJSONSpace(s.data, pos+1)
		}
		keyEnd := skipString(s.data, pos)
		rawKey := s.data[pos+1 : keyEnd-1]
		valueStart := skipJSONSpace(s.data, keyEnd) + 1 // ':'
		valueStart = skipJSONSpace(s.data, valueStart)
		valueEnd := skipValue(s.data, valueStart)
		if !visit(rawKey, jsonSpan{data: s.data, start: valueStart, end: valueEnd}) {
			return
		}
		pos = valueEnd
	}
}

// elements calls visit for each element of the array at span.
func (s jsonSpan) elements(visit func(value jsonSpan)) {
	pos := skipJSONSpace(s.data, s.start) + 1 // '['
	for {
		pos = skipJSONSpace(s.data, pos)
		if s.data[pos] == ']' {
			return
		}
		if s.data[pos] == ',' {
			pos = skipJSONSpace(s.data, pos+1)
		}
		end := skipValue(s.data, pos)
		visit(jsonSpan{data: s.data, start: pos, end: end})
		pos = end
	}
}

// kind returns the first byte of the value: '{', '[', '"', 't', 'f', 'n' or
// a number's first character.
func (s jsonSpan) kind() byte { return s.data[s.start] }

// member returns the value of key in the object at span. The match is
// exact. A key that equals key only under case folding is an error, because
// a case-insensitive decoder upstream would read it as key while an exact
// one would not.
func (s jsonSpan) member(key string) (jsonSpan, bool, error) {
	var found jsonSpan
	ok := false
	var err error
	s.members(func(rawKey []byte, value jsonSpan) bool {
		decoded := rawKey
		if bytes.IndexByte(rawKey, '\\') >= 0 {
			decoded = []byte(unquoteJSON(rawKey))
		}
		switch {
		case string(decoded) == key:
			found, ok = value, true
			return false
		case bytes.EqualFold(decoded, []byte(key)):
			err = fmt.Errorf("key %q differs from the field %q only in letter case", truncate(string(decoded)), key)
			return false
		}
		return true
	})
	return found, ok, err
}

// lookup returns the value at path, following object members from span. It
// returns an error for a key on the path that matches only under case
// folding (see member).
func (s jsonSpan) lookup(path fieldPath) (jsonSpan, bool, error) {
	current := s
	for _, key := range path {
		if current.kind() != '{' {
			return jsonSpan{}, false, nil
		}
		next, ok, err := current.member(key)
		if err != nil || !ok {
			return jsonSpan{}, false, err
		}
		current = next
	}
	return current, true, nil
}

// stringValue returns the decoded string at span and whether it is a string.
func (s jsonSpan) stringValue() (string, bool) {
	if s.kind() != '"' {
		return "", false
	}
	raw := s.data[s.start+1 : s.end-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw), true
	}
	return unquoteJSON(raw), true
}
