package catalog

import (
	"bytes"
	"fmt"
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

// maxBodyDepth is the maximum nesting of a JSON body, in levels. It is a
// generous bound: the deepest documented ECS body (server create) nests about
// five levels.
const maxBodyDepth = 64

// apply reads the body and sets res.Actions, res.ServerIDs and
// res.EnterpriseProjectID. It sets res.Actions only on success, so an error
// never leaves a smaller action list behind.
func (b *bodyRule) apply(req *Request, res *Resolution) error {
	if req.BodyTruncated {
		return fmt.Errorf("%w: the proxy sent only part of the body, so the actions it selects are unknown", ErrBodyTruncated)
	}
	if len(bytes.TrimSpace(req.Body)) == 0 {
		return fmt.Errorf("%w: route %s %s selects its actions from the JSON body, and the body is empty", ErrBodyRequired, res.Route.Method, res.Route.Path)
	}

	// Duplicate keys (also keys equal under case folding), trailing data
	// and deep nesting are rejected here.
	// Parsers resolve those differently, so the upstream API could otherwise
	// run another action than the one authorized here.
	if err := validateJSON(req.Body); err != nil {
		return fmt.Errorf("%w: %w", ErrBodyInvalid, err)
	}
	root := jsonSpan{data: req.Body, start: skipJSONSpace(req.Body, 0), end: len(bytes.TrimRight(req.Body, " \t\r\n"))}

	scope, actions, err := b.selectActions(root)
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
		ep, err := extractEnterpriseProject(b.epField, root)
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
func (b *bodyRule) selectActions(root jsonSpan) (jsonSpan, []*Action, error) {
	if b.keys == nil {
		mask := 0
		for i, field := range b.present {
			_, ok, err := root.lookup(field)
			if err != nil {
				return jsonSpan{}, nil, fmt.Errorf("%w: %w", ErrBodyInvalid, err)
			}
			if ok {
				mask |= 1 << i
			}
		}
		return root, b.byMask[mask], nil
	}

	count := 0
	var firstKey []byte
	var firstValue jsonSpan
	root.members(func(rawKey []byte, value jsonSpan) bool {
		if count == 0 {
			firstKey, firstValue = rawKey, value
		}
		count++
		return true
	})
	if count == 0 {
		return jsonSpan{}, nil, fmt.Errorf("%w: the body names no action, want exactly one top-level key", ErrBodyRequired)
	}
	if count > 1 {
		return jsonSpan{}, nil, fmt.Errorf("%w: the body has %d top-level keys, want exactly one action key", ErrBodyInvalid, count)
	}

	key := string(firstKey)
	if bytes.IndexByte(firstKey, '\\') >= 0 {
		key = unquoteJSON(firstKey)
	}
	actions, ok := b.keys[key]
	if !ok {
		return jsonSpan{}, nil, fmt.Errorf("%w: unknown action key %q", ErrBodyRequired, truncate(key))
	}
	if b.serverIDs != nil && firstValue.kind() != '{' {
		return jsonSpan{}, nil, fmt.Errorf("%w: the value of %q is not a JSON object", ErrBodyInvalid, key)
	}
	return firstValue, actions, nil
}

// extract returns the ids at p. An id must be a non-empty string, and at
// least one id must be present.
func (p *idPath) extract(object jsonSpan) ([]string, error) {
	if p.array == nil {
		id, err := stringAt(p.field, object)
		if err != nil {
			return nil, err
		}
		return []string{id}, nil
	}

	name := strings.Join(p.array, ".")
	value, ok, err := object.lookup(p.array)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBodyInvalid, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: field %q is missing", ErrBodyInvalid, name)
	}
	if value.kind() != '[' {
		return nil, fmt.Errorf("%w: field %q must be a non-empty array", ErrBodyInvalid, name)
	}

	var ids []string
	index := 0
	value.elements(func(element jsonSpan) {
		if err != nil {
			return
		}
		if element.kind() != '{' {
			err = fmt.Errorf("%w: element %d of %q is not an object", ErrBodyInvalid, index, name)
			return
		}
		var id string
		if id, err = stringAt(p.field, element); err != nil {
			err = fmt.Errorf("element %d of %q: %w", index, name, err)
			return
		}
		ids = append(ids, id)
		index++
	})
	if err != nil {
		return nil, err
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("%w: field %q must be a non-empty array", ErrBodyInvalid, name)
	}
	return ids, nil
}

func stringAt(p fieldPath, object jsonSpan) (string, error) {
	value, ok, err := object.lookup(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBodyInvalid, err)
	}
	if !ok {
		return "", fmt.Errorf("%w: field %q is missing", ErrBodyInvalid, strings.Join(p, "."))
	}
	s, ok := value.stringValue()
	if !ok || s == "" {
		return "", fmt.Errorf("%w: field %q must be a non-empty string", ErrBodyInvalid, strings.Join(p, "."))
	}
	return s, nil
}

// extractEnterpriseProject returns the enterprise project a create body
// names. ECS puts a server in the default enterprise project "0" when the
// field is absent, so absent, null and "" all return "0".
func extractEnterpriseProject(p fieldPath, root jsonSpan) (string, error) {
	value, ok, err := root.lookup(p)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBodyInvalid, err)
	}
	if !ok || value.kind() == 'n' {
		return "0", nil
	}
	s, ok := value.stringValue()
	if !ok {
		return "", fmt.Errorf("%w: field %q must be a string", ErrBodyInvalid, strings.Join(p, "."))
	}
	if s == "" {
		// NOTE: ECS documents absent and "0" as the default enterprise
		// project. Treating "" the same way is an assumption.
		return "0", nil
	}
	return s, nil
}
