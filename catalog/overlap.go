package catalog

import "strings"

// relationship is the relation between the request sets of two path
// templates with the same method, when a parameter may match any segment as
// in net/http patterns. The matcher's own rule, where a parameter never
// matches a literal of its node, makes every pair disjoint or equivalent.
// This comparison shows which pairs that rule decides.
type relationship int

const (
	disjoint     relationship = iota // no request fits both
	equivalent                       // the same requests fit both
	moreSpecific                     // every request fitting the first fits the second, not the reverse
	moreGeneral                      // the reverse of moreSpecific
	overlaps                         // some requests fit both, and neither is more specific
)

// compareTemplates returns the relationship of the request sets of
// templates a and b.
func compareTemplates(a, b []segment) relationship {
	if len(a) != len(b) {
		return disjoint
	}
	aNarrower, bNarrower := false, false
	for i := range a {
		switch {
		case a[i].param == "" && b[i].param == "":
			if a[i].literal != b[i].literal {
				return disjoint
			}
		case a[i].param == "":
			aNarrower = true
		case b[i].param == "":
			bNarrower = true
		}
	}
	switch {
	case aNarrower && bNarrower:
		return overlaps
	case aNarrower:
		return moreSpecific
	case bNarrower:
		return moreGeneral
	}
	return equivalent
}

// Overlap is a pair of routes with the same method where each template has a
// literal at a position where the other has a parameter, so some request fits
// both shapes. The matcher decides such a request by its literals, and Winner
// is the route it resolves to (nil when it resolves to neither).
type Overlap struct {
	First, Second *Route
	// Example is a request path that fits both templates, with "x" for
	// parameters that neither template fixes.
	Example string
	Winner  *Route
}

// Overlaps returns every pair of routes whose templates overlap in the sense
// of [Overlap], in load order. It returns nil when there is none. The result
// is for review, for example by `ecsauthz catalog lint`. An overlap is not
// an error, because the matcher resolves it deterministically.
func (c *Catalog) Overlaps() []Overlap {
	compiled := c.compiledRoutes()
	var out []Overlap
	for i, a := range compiled {
		for _, b := range compiled[i+1:] {
			if a.route.Method != b.route.Method || compareTemplates(a.segments, b.segments) != overlaps {
				continue
			}
			example := examplePath(a.segments, b.segments)
			var values [MaxParams]string
			var winner *Route
			if w := c.root.match(a.route.Method, example, &values, 0); w != nil {
				winner = w.route
			}
			out = append(out, Overlap{First: a.route, Second: b.route, Example: example, Winner: winner})
		}
	}
	return out
}

// examplePath builds a path that fits both templates of equal length.
func examplePath(a, b []segment) string {
	var sb strings.Builder
	for i := range a {
		sb.WriteByte('/')
		switch {
		case a[i].param == "":
			sb.WriteString(a[i].literal)
		case b[i].param == "":
			sb.WriteString(b[i].literal)
		default:
			sb.WriteString("x")
		}
	}
	return sb.String()
}

// compiledRoutes returns the compiled form of every route, in load order.
func (c *Catalog) compiledRoutes() []*compiledRoute {
	byRoute := make(map[*Route]*compiledRoute, len(c.routes))
	var walk func(n *node)
	walk = func(n *node) {
		for _, l := range n.leaves {
			byRoute[l.route.route] = l.route
		}
		for _, next := range n.literals {
			walk(next)
		}
		if n.param != nil {
			walk(n.param)
		}
	}
	walk(&c.root)

	out := make([]*compiledRoute, len(c.routes))
	for i, r := range c.routes {
		out[i] = byRoute[r]
	}
	return out
}
