package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// referenceDecode decodes a JSON object with encoding/json into a tree,
// rejecting duplicate keys, trailing data and deep nesting. It is the
// reference that validateJSON is compared with.
func referenceDecode(body []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()
	value, err := referenceValue(decoder, 0)
	if err != nil {
		return nil, err
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the top-level JSON value")
	}
	object, ok := value.(map[string]any)
	if !ok {
		return nil, errors.New("the body is not a JSON object")
	}
	return object, nil
}

func referenceValue(decoder *json.Decoder, depth int) (any, error) {
	if depth >= maxBodyDepth {
		return nil, errors.New("too deep")
	}
	token, err := decoder.Token()
	if err != nil {
		return nil, err
	}
	switch token {
	case json.Delim('{'):
		object := map[string]any{}
		for decoder.More() {
			keyToken, err := decoder.Token()
			if err != nil {
				return nil, err
			}
			key := keyToken.(string)
			for earlier := range object {
				if strings.EqualFold(earlier, key) {
					return nil, fmt.Errorf("duplicate key %q", key)
				}
			}
			if object[key], err = referenceValue(decoder, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := decoder.Token(); err != nil {
			return nil, err
		}
		return object, nil
	case json.Delim('['):
		array := []any{}
		for decoder.More() {
			element, err := referenceValue(decoder, depth+1)
			if err != nil {
				return nil, err
			}
			array = append(array, element)
		}
		if _, err := decoder.Token(); err != nil {
			return nil, err
		}
		return array, nil
	}
	return token, nil
}

// referenceLookup returns the value at path in a decoded tree, and whether a
// key on the path matched only under case folding.
func referenceLookup(object map[string]any, path fieldPath) (value any, found, caseOnly bool) {
	var current any = object
	for _, key := range path {
		m, ok := current.(map[string]any)
		if !ok {
			return nil, false, false
		}
		if current, ok = m[key]; !ok {
			for other := range m {
				if strings.EqualFold(other, key) {
					return nil, false, true
				}
			}
			return nil, false, false
		}
	}
	return current, true, false
}

func TestValidateJSON(t *testing.T) {
	tests := []struct {
		body string
		want string // error substring, "" for valid
	}{
		{`{}`, ""},
		{` {"a": [1, -0.5e+3, true, false, null, "x\u00e9\n"], "b": {"c": {}}} `, ""},
		{`{"a":"中文"}`, ""},
		{`{"a\u0062":1,"ab":2}`, `duplicate key "ab"`},
		{`{"a":{"b":1,"b":2}}`, `duplicate key "b"`},
		{`{"server":{},"Server":{}}`, `duplicate key "Server": it differs from "server" only in letter case`},
		{`{"a":[{"id":"x","ID":"y"}]}`, `duplicate key "ID"`},
		{`{"os-start":{},"OS-START":{}}`, `duplicate key "OS-START"`},
		{`{"\u0053erver":1,"server":2}`, `duplicate key "server": it differs from "Server"`},
		{`{"k":1,"\u212a":2}`, `differs from "k" only in letter case`}, // U+212A KELVIN SIGN folds to k
		{`{"s":1,"ſ":2}`, `differs from "s" only in letter case`},      // U+017F LATIN SMALL LETTER LONG S folds to s
		{`{"a":{"b":1},"c":{"B":2}}`, ""},
		{`{"a":1} x`, "data after the top-level JSON value"},
		{`[1]`, "not a JSON object"},
		{`"s"`, "not a JSON object"},
		{`{"a":01}`, "invalid character"},
		{`{"a":1.}`, "a digit after the decimal point"},
		{`{"a":1e}`, "a digit in the exponent"},
		{`{"a":-}`, "a digit"},
		{`{"a":tru}`, "want true"},
		{`{"a":"x`, "unexpected end of JSON input"},
		{`{"a":"\x"}`, "an escape character"},
		{`{"a":"\u12g4"}`, "a hexadecimal digit"},
		{"{\"a\":\"\x01\"}", "control characters must be escaped"},
		{"{\"a\":\"\xff\"}", "invalid UTF-8"},
		{`{"a":1,}`, "an object key"},
		{`{"a" 1}`, "':' after an object key"},
		{`{"a":[1,]}`, "a value"},
		{`{"a":[1 2]}`, "',' or ']'"},
		{`{`, "an object key"},
	}
	for _, tt := range tests {
		err := validateJSON([]byte(tt.body))
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("validateJSON(%q) error: %v", tt.body, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("validateJSON(%q) error = %v, want it to contain %q", tt.body, err, tt.want)
		}
	}
}

func TestValidateJSONManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 3 * maxInlineKeys {
		fmt.Fprintf(&b, `"k%d":%d,`, i, i)
	}
	valid := b.String() + `"last":0}`
	if err := validateJSON([]byte(valid)); err != nil {
		t.Errorf("validateJSON(%d keys) error: %v", 3*maxInlineKeys+1, err)
	}
	duplicate := b.String() + `"k5":0}`
	if err := validateJSON([]byte(duplicate)); err == nil || !strings.Contains(err.Error(), `duplicate key "k5"`) {
		t.Errorf("validateJSON(duplicate after %d keys) error = %v", 3*maxInlineKeys, err)
	}
	folded := b.String() + `"K5":0}`
	if err := validateJSON([]byte(folded)); err == nil || !strings.Contains(err.Error(), `duplicate key "K5": it differs from "k5"`) {
		t.Errorf("validateJSON(case-folded duplicate after %d keys) error = %v", 3*maxInlineKeys, err)
	}
	kelvin := b.String() + `"\u212a5":0}`
	if err := validateJSON([]byte(kelvin)); err == nil || !strings.Contains(err.Error(), `differs from "k5"`) {
		t.Errorf("validateJSON(Kelvin sign duplicate after %d keys) error = %v", 3*maxInlineKeys, err)
	}
}

// FuzzValidateJSON compares validateJSON and the span lookups with
// encoding/json. Run it with
//
//	go test ./catalog -run '^$' -fuzz FuzzValidateJSON -fuzztime 30s
func FuzzValidateJSON(f *testing.F) {
	for _, seed := range []string{
		`{"server":{"publicip":{"eip":{"iptype":"5_bgp"},"id":"x"},"extendparam":{"enterprise_project_id":"ep"}}}`,
		`{"os-stop":{"type":"SOFT","servers":[{"id":"s-0001"},{"id":"s\u002d2"}]}}`,
		`{"a\u0062":1,"ab":2}`,
		`{"a":[[[[]]]],"b":-1.5E-7,"c":null}`,
		`{"x":"\ud800"} `,
		`{"server":{"name":"a"},"Server":{"publicip":{"eip":{"iptype":"5_bgp"}}}}`,
		`{"Server":{"publicip":{"eip":{}}}}`,
		`{"os-start":{},"OS-START":{}}`,
		`{"k":1,"\u212a":2}`,
	} {
		f.Add([]byte(seed))
	}
	paths := []fieldPath{{"server", "publicip", "eip"}, {"server", "publicip", "id"}, {"os-stop"}, {"a"}, {"ab"}, {"x"}, {"k"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		err := validateJSON(body)
		tree, refErr := referenceDecode(body)
		if !utf8.Valid(body) {
			// Invalid UTF-8 can only sit inside strings, where
			// validateJSON rejects it and encoding/json replaces it.
			if err == nil {
				t.Fatalf("validateJSON(%q) accepted invalid UTF-8", body)
			}
			return
		}
		if (err == nil) != (refErr == nil) {
			t.Fatalf("validateJSON(%q) error = %v, encoding/json error = %v", body, err, refErr)
		}
		if err != nil {
			return
		}

		root := jsonSpan{data: body, start: skipJSONSpace(body, 0)}
		for _, path := range paths {
			span, ok, lookupErr := root.lookup(path)
			want, wantOK, caseOnly := referenceLookup(tree, path)
			if (lookupErr != nil) != caseOnly {
				t.Fatalf("lookup(%v) in %q error = %v, want a letter-case error: %v", path, body, lookupErr, caseOnly)
			}
			if ok != wantOK {
				t.Fatalf("lookup(%v) in %q found = %v, want %v", path, body, ok, wantOK)
			}
			if !ok {
				continue
			}
			got, isString := span.stringValue()
			wantString, wantIsString := want.(string)
			if isString != wantIsString || got != wantString {
				t.Fatalf("lookup(%v) in %q = %q (string %v), want %q (string %v)", path, body, got, isString, wantString, wantIsString)
			}
			var decoded any
			decoder := json.NewDecoder(bytes.NewReader(body[span.start:span.end]))
			decoder.UseNumber()
			if err := decoder.Decode(&decoded); err != nil {
				t.Fatalf("lookup(%v) in %q returned span %q that does not decode: %v", path, body, body[span.start:span.end], err)
			}
		}
	})
}
