package catalog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// BodyRule describes how a route's JSON body adds actions and supplies
// values. It is the declared form, for listing. A rule uses either Present or
// Keys.
type BodyRule struct {
	// Present lists fields whose presence adds actions. A field counts as
	// present when its key exists, even with a null value.
	Present []FieldActions
	// Keys maps the body's single top-level key to the actions it requires.
	// A body with no key, an unknown key or several keys resolves no actions.
	Keys []KeyActions
	// ServerIDs is the field listing the servers acted on, e.g.
	// "servers[].id". With Keys it is read inside the keyed object.
	ServerIDs string
	// EnterpriseProjectID is the field naming the target enterprise project,
	// e.g. "server.extendparam.enterprise_project_id".
	EnterpriseProjectID string
}

// FieldActions is one presence rule: when Field is present, the request also
// requires Actions.
type FieldActions struct {
	Field   string
	Actions []*Action
}

// KeyActions is one keyed rule: a body whose top-level key is Key requires
// the route's actions plus Actions.
type KeyActions struct {
	Key     string
	Actions []*Action
}

// bodyRule is the compiled form of a [BodyRule].
type bodyRule struct {
	present   []fieldPath
	byMask    [][]*Action // full action list for each combination of present fields
	keys      map[string][]*Action
	serverIDs *idPath
	epField   fieldPath
}

// fieldPath is a dotted JSON object path such as server.publicip.eip.
type fieldPath []string

// idPath locates string ids in a body: the array at array (empty when the
// id is a single scalar) and the field inside each element.
type idPath struct {
	array fieldPath
	field fieldPath
}

// parseFieldPath parses a dotted path of JSON object keys.
func parseFieldPath(s string) (fieldPath, error) {
	if s == "" {
		return nil, fmt.Errorf("field path is empty")
	}
	parts := strings.Split(s, ".")
	for _, p := range parts {
		if p == "" || strings.ContainsAny(p, "[]") {
			return nil, fmt.Errorf("field path %q: segment %q must be a non-empty object key", s, p)
		}
	}
	return parts, nil
}

// parseIDPath parses "a.b[].c" (ids in an array of objects) or "a.b" (one id).
func parseIDPath(s string) (*idPath, error) {
	arrayPart, fieldPart, isArray := strings.Cut(s, "[].")
	if !isArray {
		field, err := parseFieldPath(s)
		if err != nil {
			return nil, err
		}
		return &idPath{field: field}, nil
	}
	array, err := parseFieldPath(arrayPart)
	if err != nil {
		return nil, fmt.Errorf("id path %q: %w", s, err)
	}
	field, err := parseFieldPath(fieldPart)
	if err != nil {
		return nil, fmt.Errorf("id path %q: %w", s, err)
	}
	return &idPath{array: array, field: field}, nil
}

// lookup returns the value at p in object and whether every key exists.
func (p fieldPath) lookup(object map[string]any) (any, bool) {
	var current any = object
	for _, key := range p {
		m, ok := current.(map[string]any)
		if !ok {
			return nil, false
		}
		current, ok = m[key]
		if !ok {
			return nil, false
		}
	}
	return current, true
}

// maxBodyDepth bounds the nesting of a JSON body. ECS request bodies nest
// fewer than ten levels.
const maxBodyDepth = 64

// apply decodes the body and sets res.Actions, res.ServerIDs and
// res.EnterpriseProjectID. It fails closed: every error leaves res.Actions
// nil, never a smaller action list.
func (b *bodyRule) apply(req *Request, res *Resolution) error {
	if req.BodyTruncated {
		return fmt.Errorf("%w: the proxy sent only part of the body, so the actions it selects are unknown", ErrBodyTruncated)
	}
	if len(bytes.TrimSpace(req.Body)) == 0 {
		return fmt.Errorf("%w: route %s %s selects its actions from the JSON body, and the body is empty", ErrBodyRequired, res.Route.Method, res.Route.Path)
	}

	object, err := decodeObject(req.Body)
	if err != nil {
		return err
	}

	scope, actions, err := b.selectActions(object)
	if err != nil {
		return err
	}

	if b.serverIDs != nil {
		ids, err := b.serverIDs.extract(scope)
		if err != nil {
			return err
		}
		res.ServerIDs = ids
	}
	if b.epField != nil {
		ep, err := extractEnterpriseProject(b.epField, object)
		if err != nil {
			return err
		}
		res.EnterpriseProjectID = ep
	}
	res.Actions = actions
	return nil
}

// selectActions returns the full action list the body requires, and the
// object that server ids are read from.
func (b *bodyRule) selectActions(object map[string]any) (map[string]any, []*Action, error) {
	if b.keys == nil {
		mask := 0
		for i, field := range b.present {
			if _, ok := field.lookup(object); ok {
				mask |= 1 << i
			}
		}
		return object, b.byMask[mask], nil
	}

	if len(object) == 0 {
		return nil, nil, fmt.Errorf("%w: the body names no action, want exactly one top-level key", ErrBodyRequired)
	}
	if len(object) > 1 {
		return nil, nil, fmt.Errorf("%w: the body has %d top-level keys, want exactly one action key", ErrBodyInvalid, len(object))
	}
	for key, value := range object {
		actions, ok := b.keys[key]
		if !ok {
			return nil, nil, fmt.Errorf("%w: unknown action key %q", ErrBodyRequired, truncate(key))
		}
		inner, _ := value.(map[string]any)
		if b.serverIDs != nil && inner == nil {
			return nil, nil, fmt.Errorf("%w: the value of %q is not a JSON object", ErrBodyInvalid, key)
		}
		return inner, actions, nil
	}
	panic("unreachable: object has exactly one key")
}

// extract returns the ids at p. An id must be a non-empty string, and at
// least one id must be present.
func (p *idPath) extract(object map[string]any) ([]string, error) {
	if p.array == nil {
		id, err := stringAt(p.field, object)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}

	value, ok := p.array.lookup(object)
	if !ok {
		return nil, fmt.Errorf("%w: field %q is missing", ErrBodyInvalid, strings.Join(p.array, "."))
	}
	elements, ok := value.([]any)
	if !ok || len(elements) == 0 {
		return nil, fmt.Errorf("%w: field %q must be a non-empty array", ErrBodyInvalid, strings.Join(p.array, "."))
	}

	ids := make([]string, 0, len(elements))
	for i, element := range elements {
		m, ok := element.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: element %d of %q is not an object", ErrBodyInvalid, i, strings.Join(p.array, "."))
		}
		id, err := stringAt(p.field, m)
		if err != nil {
			return nil, fmt.Errorf("element %d of %q: %w", i, strings.Join(p.array, "."), err)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func stringAt(p fieldPath, object map[string]any) (string, error) {
	value, ok := p.lookup(object)
	if !ok {
		return "", fmt.Errorf("%w: field %q is missing", ErrBodyInvalid, strings.Join(p, "."))
	}
	s, ok := value.(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%w: field %q must be a non-empty string", ErrBodyInvalid, strings.Join(p, "."))
	}
	return s, nil
}

// extractEnterpriseProject returns the enterprise project a create body
// names. ECS puts a server in the default enterprise project "0" when the
// field is absent, so absent, null and "" all return "0".
func extractEnterpriseProject(p fieldPath, object map[string]any) (string, error) {
	value, ok := p.lookup(object)
	if !ok || value == nil {
		return "0", nil
	}
	s, ok := value.(string)
	if !ok {
		return "", fmt.Errorf("%w: field %q must be a string", ErrBodyInvalid, strings.Join(p, "."))
	}
	if s == "" {
		// NOTE: ECS documents absent and "0" as the default enterprise
		// project; treating "" the same way is an assumption.
		return "0", nil
	}
	return s, nil
}

// decodeObject decodes a JSON object. It rejects duplicate keys at any depth,
// trailing data and nesting deeper than maxBodyDepth, because a parser that
// resolves those differently from the upstream API could be made to see
// another action than the one the API runs.
func decodeObject(body []byte) (map[string]any, error) {
	decoder := json.NewDecoder(bytes.NewReader(body))
	decoder.UseNumber()

	value, err := decodeValue(decoder, 0)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBodyInvalid, err)
	}
	if _, err := decoder.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: data after the top-level JSON value", ErrBodyInvalid)
	}
	object, ok := value.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: the body is not a JSON object", ErrBodyInvalid)
	}
	return object, nil
}

func decodeValue(decoder *json.Decoder, depth int) (any, error) {
	if depth > maxBodyDepth {
		return nil, fmt.Errorf("JSON nesting deeper than %d levels", maxBodyDepth)
	}
	token, err := decoder.Token()
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}

	switch token {
	case json.Delim('{'):
		object := make(map[string]any)
		for decoder.More() {
			keyToken, err := decoder.Token()
			if err != nil {
				return nil, err
			}
			key := keyToken.(string) // the decoder only returns string keys inside an object
			if _, dup := object[key]; dup {
				return nil, fmt.Errorf("duplicate key %q", truncate(key))
			}
			if object[key], err = decodeValue(decoder, depth+1); err != nil {
				return nil, err
			}
		}
		if _, err := decoder.Token(); err != nil { // the closing '}'
			return nil, err
		}
		return object, nil
	case json.Delim('['):
		array := []any{}
		for decoder.More() {
			element, err := decodeValue(decoder, depth+1)
			if err != nil {
				return nil, err
			}
			array = append(array, element)
		}
		if _, err := decoder.Token(); err != nil { // the closing ']'
			return nil, err
		}
		return array, nil
	}
	return token, nil
}
