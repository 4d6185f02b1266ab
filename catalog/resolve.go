package catalog

import (
	"fmt"
	"net/url"
	"strings"
)

// Resolve canonicalizes req.Target, matches the route for req.Method, applies
// the route's body rule and stores the outcome in res. Routes without a body
// rule never read req.Body.
//
// On success res.Actions is the full action list. On error res.Actions and
// res.ServerIDs are nil. res.Route is set when a route matched, and the error
// wraps one of [ErrInvalidPath], [ErrUnknownRoute], [ErrBodyRequired],
// [ErrBodyInvalid] or [ErrBodyTruncated]. Resolve does not allocate when it
// succeeds on a route without a body rule, for a path that [Canonicalize]
// returns unchanged and a query value without escapes.
func (c *Catalog) Resolve(req *Request, res *Resolution) error {
	*res = Resolution{}

	path, query, err := Canonicalize(req.Target)
	if err != nil {
		return err
	}
	res.Query = query

	var values [MaxParams]string
	compiled := c.root.match(req.Method, path, &values, 0)
	if compiled == nil {
		return fmt.Errorf("%w: %s %s", ErrUnknownRoute, truncate(req.Method), truncate(path))
	}
	res.Route = compiled.route

	// Parameter values are canonical segments. Decoding them allocates
	// only when a segment contains an escape.
	for i, name := range compiled.paramNames {
		values[i] = decodeCanonical(values[i])
		res.params[i] = Param{Name: name, Value: values[i]}
	}
	res.nparams = len(compiled.paramNames)
	res.ProjectID = values[compiled.projectIndex]
	if compiled.serverIndex >= 0 {
		res.serverID[0] = values[compiled.serverIndex]
		res.ServerIDs = res.serverID[:]
	}

	if name := compiled.route.EnterpriseProjectQuery; name != "" {
		if err := res.setQueryEnterpriseProject(name); err != nil {
			return err
		}
	}

	if compiled.body == nil {
		res.Actions = compiled.route.Actions
		return nil
	}
	if err := compiled.body.apply(req, res); err != nil {
		res.Actions = nil
		res.ServerIDs = nil
		return err
	}
	return nil
}

// allGrantedEPs is the enterprise_project_id query value with which ECS lists
// the servers of every enterprise project the caller is authorized for.
const allGrantedEPs = "all_granted_eps"

// setQueryEnterpriseProject reads the query parameter name from res.Query.
// A parameter given more than once is rejected, because the upstream API and
// this service could pick different values.
func (r *Resolution) setQueryEnterpriseProject(name string) error {
	found := false
	rest := r.Query
	for rest != "" {
		var pair string
		pair, rest, _ = strings.Cut(rest, "&")
		rawKey, rawValue, _ := strings.Cut(pair, "=")

		key, err := unescapeQuery(rawKey)
		if err != nil {
			return err
		}
		if key != name {
			continue
		}
		if found {
			return fmt.Errorf("%w: query parameter %q appears more than once", ErrInvalidPath, name)
		}
		found = true
		if r.EnterpriseProjectID, err = unescapeQuery(rawValue); err != nil {
			return err
		}
	}
	r.AllGrantedEPs = r.EnterpriseProjectID == allGrantedEPs
	return nil
}

// unescapeQuery decodes a query component, allocating only when it contains
// an escape or '+'.
func unescapeQuery(s string) (string, error) {
	if !strings.ContainsAny(s, "%+") {
		return s, nil
	}
	decoded, err := url.QueryUnescape(s)
	if err != nil {
		return "", fmt.Errorf("%w: malformed query component %q", ErrInvalidPath, truncate(s))
	}
	return decoded, nil
}

// decodeCanonical decodes a segment of a path that [Canonicalize] returned.
func decodeCanonical(segment string) string {
	decoded, err := unescapeSegment(segment)
	if err != nil {
		panic("catalog: canonical path segment has a malformed escape: " + segment)
	}
	return decoded
}
