package catalog

// The compiled matcher is a segment tree. Each node stands for a path prefix
// and branches on the next path segment in two ways: a map from literal
// segments to child nodes, and at most one parameter child that accepts any
// other non-empty segment. Routes sit at the node where their template ends,
// keyed by method.
//
// Matching walks down one segment at a time. A segment equal to a literal
// child always takes that child, and only a segment that equals no literal
// child fills the parameter. So literal segments beat parameters whatever
// the load order, and the walk never backtracks. For example, with
//
//	GET /v1/{project_id}/cloudservers/{server_id}/tags
//	GET /v1/{project_id}/cloudservers/os-server-groups/{server_group_id}
//
// the request GET /v1/p1/cloudservers/os-server-groups/tags matches only the
// server-group route, and GET /v1/p1/cloudservers/detail/tags matches
// nothing when a route declares the literal "detail" at that position: a
// server id is never one of the literal names beside it.
//
// This rule also settles what a set-inclusion comparison of templates (as in
// net/http, see compareTemplates) reports as overlaps: the ECS API has
// several pairs like the two above, where each template is more specific at
// a different segment. [Catalog.Overlaps] lists them for review. With
// reserved literals the only templates that can match the same request are
// equivalent ones, and those are a load error.
//
// The walk reads segments from the canonical path by index and records
// parameter values as substrings of it, so a match allocates nothing. Its
// cost is one map lookup per segment, whatever the number of routes.

import (
	"fmt"
	"strings"
)

type node struct {
	literals map[string]*node
	param    *node
	leaves   []leaf
}

// leaf is a route that ends at a node, with its method.
type leaf struct {
	method string
	route  *compiledRoute
}

// insert adds route to the tree. Two templates with the same method end at
// the same node only when they are equivalent (the same literals at the same
// positions, parameters elsewhere), and that is a load error naming both
// routes. Any other pair of templates is disjoint, because a parameter never
// matches a literal of its own node (see match).
func (n *node) insert(route *compiledRoute) error {
	current := n
	for _, s := range route.segments {
		current = current.child(s)
	}
	for _, l := range current.leaves {
		if l.method == route.route.Method {
			return fmt.Errorf("routes %s and %s match the same requests", describe(l.route.route), describe(route.route))
		}
	}
	current.leaves = append(current.leaves, leaf{method: route.route.Method, route: route})
	return nil
}

// child returns the child node for s, creating it when missing.
func (n *node) child(s segment) *node {
	if s.param != "" {
		if n.param == nil {
			n.param = &node{}
		}
		return n.param
	}
	if n.literals == nil {
		n.literals = make(map[string]*node)
	}
	next := n.literals[s.literal]
	if next == nil {
		next = &node{}
		n.literals[s.literal] = next
	}
	return next
}

// match returns the route for method whose template matches path, a
// canonical path or the rest of one (starting with '/', or empty at the end).
// It stores the parameter values in values, in template order, from index
// depth on. It returns nil when no route matches.
func (n *node) match(method, path string, values *[MaxParams]string, depth int) *compiledRoute {
	current := n
	for path != "" {
		segment, rest := path[1:], ""
		if i := strings.IndexByte(segment, '/'); i >= 0 {
			segment, rest = segment[:i], segment[i:]
		}
		path = rest

		if next := current.literals[segment]; next != nil {
			current = next
			continue
		}
		// An empty segment is only possible at the end (a trailing '/'), and
		// a parameter never matches it, so a trailing '/' matches no route.
		if current.param == nil || segment == "" {
			return nil
		}
		values[depth] = segment
		depth++
		current = current.param
	}

	for _, l := range current.leaves {
		if l.method == method {
			return l.route
		}
	}
	return nil
}

// describe names a route and where it was declared, for load errors.
func describe(r *Route) string {
	return fmt.Sprintf("%q (%s:%d)", r.Method+" "+r.Path, r.File, r.Line)
}
