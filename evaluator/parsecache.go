package evaluator

import "sync"

// A store checks every policy document with [ValidatePolicy] when it loads,
// and [Compile] then needs the same documents parsed again. parsedPolicies
// keeps each valid document that ValidatePolicy parsed, so that the Compile
// after a load reuses the parse instead of repeating it. With 10,000
// policies the second parse took about a fifth of a full reload.
//
// Compile takes the entries it uses and then empties the cache, so the
// cache holds at most the documents validated since the last Compile. An
// entry is only ever a copy of what parsePolicy returns for the same name,
// document and limits. A miss, such as after a concurrent Compile emptied
// the cache, only costs the parse.
var parsedPolicies = parseCache{entries: map[parseKey]parsedPolicy{}}

// maxParseCacheEntries bounds the cache when documents are validated without
// a Compile following, such as through an admin API that only checks
// documents. It is a guess with room for a store of 30,000 policies. Beyond
// it, documents are parsed twice.
const maxParseCacheEntries = 1 << 15

type parseKey struct {
	name     string
	document string
	limits   Limits
}

// parsedPolicy is a valid document before it is bound to a catalog, with
// the warnings its parse recorded.
type parsedPolicy struct {
	policy   *compiledPolicy
	warnings []Problem
}

type parseCache struct {
	mu      sync.Mutex
	entries map[parseKey]parsedPolicy
}

// put stores the parse of a valid document.
func (c *parseCache) put(key parseKey, pol *compiledPolicy, warnings []Problem) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) < maxParseCacheEntries {
		c.entries[key] = parsedPolicy{policy: pol, warnings: warnings}
	}
}

// take removes and returns the entry of key.
func (c *parseCache) take(key parseKey) (parsedPolicy, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.entries[key]
	if ok {
		delete(c.entries, key)
	}
	return p, ok
}

// clear drops every entry. A new map releases the table of the old one,
// which the built-in clear would keep at its largest size.
func (c *parseCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.entries = map[parseKey]parsedPolicy{}
}

// parsePolicyCached is parsePolicy for a stored policy, reusing the parse
// of an earlier ValidatePolicy call of the same document when there is one.
// The cached policy is not bound to a catalog yet, and take removes it, so
// the caller owns it.
func parsePolicyCached(name string, doc []byte, limits *Limits, ps *problems) *compiledPolicy {
	cached, ok := parsedPolicies.take(parseKey{name: name, document: string(doc), limits: *limits})
	if !ok {
		return parsePolicy(name, doc, limits, ps)
	}
	ps.list = append(ps.list, cached.warnings...)
	return cached.policy
}

// validatePolicyCached is parsePolicy for ValidatePolicy. It keeps the
// result of a valid document for the next Compile.
func validatePolicyCached(name string, doc []byte, limits Limits) *problems {
	var ps problems
	pol := parsePolicy(name, doc, &limits, &ps)
	if pol != nil {
		parsedPolicies.put(parseKey{name: name, document: string(doc), limits: limits}, pol, ps.list)
	}
	return &ps
}
