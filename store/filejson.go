package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// parseJSON reads one JSON resource document with encoding/json, which is
// much faster than the YAML parser on large stores, and locates each list
// element by the line it starts on.
func (r *resourceDoc) parseJSON(file string, src []byte) []error {
	lines := lineCounter{src: src, line: 1}
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	fail := func(err error) []error { return []error{jsonLoadError(file, src, err)} }

	if err := expectDelim(dec, '{'); err != nil {
		return fail(err)
	}
	var errs []error
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fail(err)
		}
		name, _ := tok.(string)
		keyLine := lines.at(dec.InputOffset())
		newElem, ok := elementShapes[name]
		if !ok {
			return append(errs, &LoadError{File: file, Line: keyLine,
				Err: fmt.Errorf("unknown key %q: want users, groups, memberships, grants or servers", name)})
		}
		if err := expectDelim(dec, '['); err != nil {
			return append(errs, &LoadError{File: file, Line: keyLine, Err: fmt.Errorf("%s must be a list: %w", name, err)})
		}
		for dec.More() {
			line := lines.at(nextValueOffset(src, dec.InputOffset()))
			elem := newElem()
			if err := dec.Decode(elem); err != nil {
				if isUnknownField(err) {
					errs = append(errs, &LoadError{File: file, Line: line, Err: err})
					continue
				}
				return append(errs, jsonLoadError(file, src, err))
			}
			if err := r.add(file, line, elem); err != nil {
				errs = append(errs, err)
			}
		}
		if err := expectDelim(dec, ']'); err != nil {
			return append(errs, jsonLoadError(file, src, err))
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return append(errs, jsonLoadError(file, src, err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return append(errs, &LoadError{File: file, Line: lines.at(dec.InputOffset()), Err: errors.New("unexpected data after the document")})
	}
	return errs
}

// elementShapes returns a new element of each list of a resource document.
var elementShapes = map[string]func() any{
	"users":       func() any { return &userDoc{} },
	"groups":      func() any { return &groupDoc{} },
	"memberships": func() any { return &membershipDoc{} },
	"grants":      func() any { return &grantDoc{} },
	"servers":     func() any { return &serverDoc{} },
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, got %v", want, tok)
	}
	return nil
}

func isUnknownField(err error) bool {
	return bytes.HasPrefix([]byte(err.Error()), []byte("json: unknown field "))
}

// nextValueOffset skips white space and a comma from offset, to where the
// next value of a list starts.
func nextValueOffset(src []byte, offset int64) int64 {
	for offset < int64(len(src)) {
		switch src[offset] {
		case ' ', '\t', '\r', '\n', ',':
			offset++
		default:
			return offset
		}
	}
	return offset
}

// lineCounter converts increasing byte offsets into line numbers without
// rescanning the source from its start.
type lineCounter struct {
	src    []byte
	offset int64
	line   int
}

func (c *lineCounter) at(offset int64) int {
	if offset < c.offset {
		c.offset, c.line = 0, 1
	}
	offset = min(offset, int64(len(c.src)))
	c.line += bytes.Count(c.src[c.offset:offset], []byte("\n"))
	c.offset = offset
	return c.line
}
