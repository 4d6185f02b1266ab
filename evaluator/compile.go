package evaluator

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator/internal/wildcard"
)

// regionalServices are the services whose actions are project-level, so
// grants at ScopeGlobal never apply to them. Every other service is treated
// as a global service.
//
// NOTE: Huawei IAM silently widens a global-scope grant of a policy with
// project-level actions to all resources. Here such a grant covers only the
// policy's global-service actions, and ECS rights need a domain, project or
// enterprise-project grant.
var regionalServices = []string{"ecs", "evs", "vpc", "ims"}

// Engine is a compiled policy store snapshot bound to one catalog. It never
// changes after [Compile] returns and is safe for concurrent use.
//
// Compile builds, for every user, one bucket per grant scope the user holds
// (all resources, each project, each enterprise project, global services).
// A bucket holds two bitsets indexed by catalog [catalog.Action.ID]: the
// actions some condition-free, resource-free statement allows and those one
// denies. Statements with conditions or a resource restriction stay in a
// short per-bucket list that Decide evaluates per request. Tables are built
// eagerly at Compile time, and users whose grants at a scope name the same
// policies in the same order share one bucket. Users without direct grants
// who are in the same groups, in the same order, share their bucket lists.
type Engine struct {
	conf     Config
	actions  []*catalog.Action
	services []string // service of each action, by ID
	global   bitset   // actions of global services
	// actionIndex maps lower-case reported names, then aliases, to actions.
	actionIndex map[string]*catalog.Action

	policies map[string]*compiledPolicy
	// invalidPolicies names stored policies that failed to load, so that
	// grants of them do not add a second error.
	invalidPolicies map[string]bool
	principals      map[string]*principal
	servers         map[string]*Server
	roots           map[string]bool
}

// principal is one user's compiled grants.
type principal struct {
	user     *User
	root     bool
	domain   *bucket
	global   *bucket
	projects []*bucket
	// enterpriseProjects is sorted by scope id.
	enterpriseProjects []*bucket
}

// bucket is the union of the policies granted to one user at one scope.
// Users with the same policies at the same scope share one bucket.
type bucket struct {
	// The fields Decide reads for every action come first, so that they
	// share the bucket's first cache lines.
	scope       ScopeKind
	scopeID     string
	allow, deny bitset
	slow        []*statement

	policies []*compiledPolicy
	// statements is nil in a bucket of at most maxScannedPolicies
	// policies, where the deciding statement of an action is found by a
	// scan of the policies. A store of 10,000 users can hold tens of
	// thousands of buckets, and a table per bucket took most of the
	// engine's memory.
	statements *statementIndex
	// serial numbers the bucket while Compile builds it. 0 means unset.
	serial int
}

// maxScannedPolicies is the largest bucket whose deciding statements are
// found by a scan of its policies instead of a [statementIndex].
const maxScannedPolicies = 8

// statementIndex holds, for each member of a bucket's allow and deny
// bitsets in ID order, the first condition-free statement that allows or
// denies the action, so a decision can name its statement without a search.
// The entry of an action is at allowRank.rank(allow, id), or the same for
// deny. The lists are dense, one entry per member, not per catalog action.
type statementIndex struct {
	allowBy, denyBy     []*statement
	allowRank, denyRank rankIndex
}

// Compile parses every policy of data, checks the store data and builds the
// decision tables for cat. Warnings (such as unknown condition keys) come
// back as problems. The error joins every load error, each with its
// location. A grant naming an unknown policy, user or group is an error.
func Compile(data *Data, cat *catalog.Catalog, conf Config) (*Engine, []Problem, error) {
	if cat == nil {
		return nil, nil, errors.New("failed to compile policies: catalog is nil")
	}
	return compile(data, cat.Actions(), conf)
}

// compile is [Compile] over an explicit action list, where
// actions[i].ID == i.
func compile(data *Data, actions []*catalog.Action, conf Config) (*Engine, []Problem, error) {
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		return nil, nil, err
	}
	if data == nil {
		data = &Data{}
	}
	e := newEngine(actions, conf)
	var ps problems

	e.compilePolicies(data.Policies, &ps)
	users := e.indexUsers(data.Users, &ps)
	groups := indexGroups(data.Groups, &ps)
	members := indexMemberships(data.Memberships, users, groups, &ps)
	byUser, byGroup := e.indexGrants(data.Grants, users, groups, &ps)
	e.indexServers(data.Servers, &ps)
	if err := ps.err(); err != nil {
		return nil, ps.warnings(), err
	}

	b := &principalBuilder{
		interned:   map[string]*bucket{},
		byGroups:   map[string]*principal{},
		lastBucket: make([]int, len(e.policies)),
	}
	for _, u := range data.Users {
		e.principals[u.ID] = e.buildPrincipal(users[u.ID], byUser[u.ID], members[u.ID], byGroup, b)
	}
	return e, ps.warnings(), nil
}

func newEngine(actions []*catalog.Action, conf Config) *Engine {
	e := &Engine{
		conf:            conf,
		actions:         actions,
		services:        make([]string, len(actions)),
		global:          newBitset(len(actions)),
		actionIndex:     make(map[string]*catalog.Action, 2*len(actions)),
		policies:        map[string]*compiledPolicy{},
		invalidPolicies: map[string]bool{},
		principals:      map[string]*principal{},
		servers:         map[string]*Server{},
		roots:           map[string]bool{},
	}
	for i, a := range actions {
		if a.ID != i {
			panic(fmt.Sprintf("evaluator: catalog action %q has ID %d at index %d", a.Name, a.ID, i))
		}
		e.services[i] = serviceOf(a.Name)
		if !isRegional(e.services[i]) {
			e.global.add(i)
		}
		e.actionIndex[strings.ToLower(a.Name)] = a
	}
	for _, a := range actions {
		for _, alias := range a.Aliases {
			if _, exists := e.actionIndex[strings.ToLower(alias)]; !exists {
				e.actionIndex[strings.ToLower(alias)] = a
			}
		}
	}
	for _, id := range conf.RootUserIDs {
		e.roots[id] = true
	}
	return e
}

func serviceOf(name string) string {
	service, _, _ := strings.Cut(name, ":")
	return strings.ToLower(service)
}

func isRegional(service string) bool { return slices.Contains(regionalServices, service) }

// compilePolicies parses the built-in and the stored policies and binds
// them to the catalog.
func (e *Engine) compilePolicies(stored []Policy, ps *problems) {
	for _, p := range BuiltinPolicies() {
		pol := parsePolicy(p.Name, p.Document, nil, ps)
		if pol == nil {
			panic("evaluator: built-in policy " + p.Name + " is invalid")
		}
		pol.builtin = true
		e.policies[p.Name] = pol
	}
	cache := map[string]bitset{}
	for i, p := range stored {
		loc := locate(fmt.Sprintf("Policies[%d]", i), p.Source)
		if existing := e.policies[p.Name]; existing != nil {
			if existing.builtin {
				ps.errorf(ErrInvalidData, loc, "policy name %q is the name of a built-in system policy; choose another name", p.Name)
			} else {
				ps.errorf(ErrInvalidData, loc, "duplicate policy name %q", p.Name)
			}
			continue
		}
		before := len(ps.list)
		pol := parsePolicyCached(p.Name, p.Document, &e.conf.Limits, ps)
		for j := before; j < len(ps.list); j++ {
			ps.list[j].Location = locate(ps.list[j].Location, p.Source)
		}
		if pol == nil {
			e.invalidPolicies[p.Name] = true
			continue
		}
		e.policies[p.Name] = pol
	}
	// Parses left in the cache are of documents validated elsewhere, such
	// as by a rejected write, so they are dropped.
	parsedPolicies.clear()
	ordinal := 0
	for _, pol := range e.policies {
		pol.ordinal = ordinal
		ordinal++
		e.bindCatalog(pol, cache)
	}
}

// locate prefixes a location with the source of the element, if known.
func locate(location, source string) string {
	if source == "" {
		return location
	}
	return source + ": " + location
}

// bindCatalog computes every statement's action set and the policy's fast
// bitsets. cache maps an action pattern to its set, shared across policies.
func (e *Engine) bindCatalog(pol *compiledPolicy, cache map[string]bitset) {
	pol.allow, pol.deny = newBitset(len(e.actions)), newBitset(len(e.actions))
	for _, st := range pol.statements {
		st.actionSet = newBitset(len(e.actions))
		for _, pattern := range st.actions {
			set, ok := cache[pattern]
			if !ok {
				set = e.matchCatalog(pattern)
				cache[pattern] = set
			}
			st.actionSet.or(set)
		}
		switch {
		case !st.fast():
			pol.slow = append(pol.slow, st)
		case st.deny:
			pol.deny.or(st.actionSet)
		default:
			pol.allow.or(st.actionSet)
		}
	}
}

// matchCatalog returns the catalog actions pattern matches by reported name
// or by any alias.
func (e *Engine) matchCatalog(pattern string) bitset {
	set := newBitset(len(e.actions))
	for _, a := range e.actions {
		if wildcard.Match(pattern, a.Name, true) || slices.ContainsFunc(a.Aliases, func(alias string) bool {
			return wildcard.Match(pattern, alias, true)
		}) {
			set.add(a.ID)
		}
	}
	return set
}

func (e *Engine) indexUsers(list []User, ps *problems) map[string]*User {
	users := make(map[string]*User, len(list))
	for i := range list {
		u := &list[i]
		loc := fmt.Sprintf("Users[%d]", i)
		switch {
		case u.ID == "":
			ps.errorf(ErrInvalidData, loc, "user id is empty")
		case users[u.ID] != nil:
			ps.errorf(ErrInvalidData, loc, "duplicate user id %q", u.ID)
		default:
			users[u.ID] = u
		}
		if u.DomainID == "" {
			ps.errorf(ErrInvalidData, loc, "user %q has no domain id", u.ID)
		}
	}
	return users
}

func indexGroups(list []Group, ps *problems) map[string]*Group {
	groups := make(map[string]*Group, len(list))
	for i := range list {
		g := &list[i]
		loc := fmt.Sprintf("Groups[%d]", i)
		switch {
		case g.ID == "":
			ps.errorf(ErrInvalidData, loc, "group id is empty")
		case groups[g.ID] != nil:
			ps.errorf(ErrInvalidData, loc, "duplicate group id %q", g.ID)
		default:
			groups[g.ID] = g
		}
	}
	return groups
}

// indexMemberships returns, per user id, the ids of the user's groups.
func indexMemberships(list []Membership, users map[string]*User, groups map[string]*Group, ps *problems) map[string][]string {
	members := map[string][]string{}
	for i, m := range list {
		loc := fmt.Sprintf("Memberships[%d]", i)
		u, g := users[m.UserID], groups[m.GroupID]
		if u == nil {
			ps.errorf(ErrUnknownReference, loc, "user %q not found", m.UserID)
		}
		if g == nil {
			ps.errorf(ErrUnknownReference, loc, "group %q not found", m.GroupID)
		}
		if u == nil || g == nil {
			continue
		}
		if g.DomainID != "" && g.DomainID != u.DomainID {
			ps.errorf(ErrInvalidData, loc, "user %q of domain %q cannot join group %q of domain %q", u.ID, u.DomainID, g.ID, g.DomainID)
			continue
		}
		if !slices.Contains(members[u.ID], g.ID) {
			members[u.ID] = append(members[u.ID], g.ID)
		}
	}
	return members
}

// grantRef is a checked grant with its compiled policy.
type grantRef struct {
	grant  *Grant
	policy *compiledPolicy
}

// indexGrants checks every grant and returns them by user id and group id.
func (e *Engine) indexGrants(list []Grant, users map[string]*User, groups map[string]*Group, ps *problems) (byUser, byGroup map[string][]grantRef) {
	byUser, byGroup = map[string][]grantRef{}, map[string][]grantRef{}
	for i := range list {
		g := &list[i]
		loc := locate(fmt.Sprintf("Grants[%d]", i), g.Source)
		ok := true
		switch {
		case e.invalidPolicies[g.Policy]:
			// The policy's own errors are already recorded.
			ok = false
		case e.policies[g.Policy] == nil:
			ps.errorf(ErrUnknownReference, loc, "policy %q not found", g.Policy)
			ok = false
		}
		switch {
		case (g.UserID == "") == (g.GroupID == ""):
			ps.errorf(ErrInvalidData, loc, "a grant names exactly one of a user and a group, got user %q and group %q", g.UserID, g.GroupID)
			ok = false
		case g.UserID != "" && users[g.UserID] == nil:
			ps.errorf(ErrUnknownReference, loc, "user %q not found", g.UserID)
			ok = false
		case g.GroupID != "" && groups[g.GroupID] == nil:
			ps.errorf(ErrUnknownReference, loc, "group %q not found", g.GroupID)
			ok = false
		}
		if msg := checkScope(g.Scope, g.ScopeID); msg != "" {
			ps.errorf(ErrInvalidData, loc, "%s", msg)
			ok = false
		}
		if !ok {
			continue
		}
		if g.UserID != "" {
			byUser[g.UserID] = append(byUser[g.UserID], grantRef{g, e.policies[g.Policy]})
		} else {
			byGroup[g.GroupID] = append(byGroup[g.GroupID], grantRef{g, e.policies[g.Policy]})
		}
	}
	return byUser, byGroup
}

// checkScope returns why a grant scope is invalid, or "".
func checkScope(kind ScopeKind, id string) string {
	switch kind {
	case ScopeDomain, ScopeGlobal:
		if id != "" {
			return fmt.Sprintf("scope %s takes no scope id, got %q", kind, id)
		}
	case ScopeProject, ScopeEnterpriseProject:
		if id == "" {
			return fmt.Sprintf("scope %s needs a scope id", kind)
		}
	default:
		return fmt.Sprintf("invalid scope kind %d", int(kind))
	}
	return ""
}

func (e *Engine) indexServers(list []Server, ps *problems) {
	for i := range list {
		s := &list[i]
		loc := fmt.Sprintf("Servers[%d]", i)
		switch {
		case s.ID == "":
			ps.errorf(ErrInvalidData, loc, "server id is empty")
		case e.servers[s.ID] != nil:
			ps.errorf(ErrInvalidData, loc, "duplicate server id %q", s.ID)
		default:
			e.servers[s.ID] = s
		}
	}
}

// principalBuilder is the state buildPrincipal keeps across users.
type principalBuilder struct {
	// interned maps a bucket key to the bucket users share.
	interned map[string]*bucket
	// byGroups maps the group list of a user without direct grants to the
	// first such principal, whose bucket lists the others share.
	byGroups map[string]*principal
	// lastBucket holds, per policy ordinal, the serial of the last bucket
	// the policy was added to, so that adding a policy twice to one
	// bucket is caught without a search of the bucket's list.
	lastBucket []int
	serials    int
	key        []byte
}

// buildPrincipal merges a user's direct grants and the grants of the user's
// groups into one bucket per scope. Buckets with the same scope and the same
// policies in the same order are shared between users through b.interned,
// and users without direct grants in the same groups share their bucket
// lists through b.byGroups.
func (e *Engine) buildPrincipal(u *User, direct []grantRef, groupIDs []string, byGroup map[string][]grantRef, b *principalBuilder) *principal {
	root := u.Root || e.roots[u.ID]
	var groupsKey string
	if len(direct) == 0 {
		b.key = b.key[:0]
		for _, id := range groupIDs {
			b.key = binary.AppendUvarint(b.key, uint64(len(id)))
			b.key = append(b.key, id...)
		}
		groupsKey = string(b.key)
		if shared := b.byGroups[groupsKey]; shared != nil {
			p := *shared
			p.user, p.root = u, root
			return &p
		}
	}

	p := &principal{user: u, root: root}
	for _, g := range direct {
		p.addGrant(g, b)
	}
	for _, id := range groupIDs {
		for _, g := range byGroup[id] {
			p.addGrant(g, b)
		}
	}

	p.domain, p.global = e.intern(p.domain, b), e.intern(p.global, b)
	for i, bk := range p.projects {
		p.projects[i] = e.intern(bk, b)
	}
	for i, bk := range p.enterpriseProjects {
		p.enterpriseProjects[i] = e.intern(bk, b)
	}
	slices.SortFunc(p.enterpriseProjects, func(a, b *bucket) int { return strings.Compare(a.scopeID, b.scopeID) })
	if len(direct) == 0 {
		b.byGroups[groupsKey] = p
	}
	return p
}

// intern returns the shared bucket with the scope and policies of bk,
// finishing bk and sharing it when it is the first of its kind.
func (e *Engine) intern(bk *bucket, b *principalBuilder) *bucket {
	if bk == nil {
		return nil
	}
	b.key = bk.appendKey(b.key[:0])
	if shared := b.interned[string(b.key)]; shared != nil {
		return shared
	}
	e.finish(bk)
	b.interned[string(b.key)] = bk
	return bk
}

// addGrant adds a granted policy to the bucket of the grant's scope, once.
func (p *principal) addGrant(g grantRef, b *principalBuilder) {
	pol := g.policy
	bk := p.bucketFor(g.grant.Scope, g.grant.ScopeID)
	if bk.serial == 0 {
		b.serials++
		bk.serial = b.serials
	}
	if b.lastBucket[pol.ordinal] != bk.serial {
		b.lastBucket[pol.ordinal] = bk.serial
		bk.policies = append(bk.policies, pol)
	}
}

// appendKey appends the bucket's identity for sharing: the scope, the scope
// id and the ordinals of its policies in order. Ordinals are only unique
// within one engine.
func (bk *bucket) appendKey(key []byte) []byte {
	key = append(key, byte(bk.scope))
	key = append(key, bk.scopeID...)
	key = append(key, 0)
	for _, pol := range bk.policies {
		key = binary.LittleEndian.AppendUint32(key, uint32(pol.ordinal))
	}
	return key
}

// finish computes a bucket's bitsets, the list of conditional statements
// and, in a bucket of more than maxScannedPolicies policies, the statement
// index. In a global-services bucket the bitsets keep global actions only.
func (e *Engine) finish(b *bucket) {
	n := len(e.actions)
	// One allocation holds both bitsets.
	words := len(newBitset(n))
	sets := make(bitset, 2*words)
	b.allow, b.deny = sets[:words:words], sets[words:]

	for _, pol := range b.policies {
		b.allow.or(pol.allow)
		b.deny.or(pol.deny)
		b.slow = append(b.slow, pol.slow...)
	}
	if b.scope == ScopeGlobal {
		b.allow.and(e.global)
		b.deny.and(e.global)
	}
	if len(b.policies) <= maxScannedPolicies {
		return
	}

	// The first statement in grant order, then statement order, decides.
	index := &statementIndex{
		allowBy:   make([]*statement, b.allow.count()),
		denyBy:    make([]*statement, b.deny.count()),
		allowRank: newRankIndex(b.allow),
		denyRank:  newRankIndex(b.deny),
	}
	b.statements = index
	for _, pol := range b.policies {
		for _, st := range pol.statements {
			if !st.fast() {
				continue
			}
			by, set, ranks := index.allowBy, b.allow, index.allowRank
			if st.deny {
				by, set, ranks = index.denyBy, b.deny, index.denyRank
			}
			for id := range n {
				if !set.has(id) || !st.actionSet.has(id) {
					continue
				}
				if r := ranks.rank(set, id); by[r] == nil {
					by[r] = st
				}
			}
		}
	}
}

// bucketFor returns the principal's bucket for a scope, creating it.
func (p *principal) bucketFor(kind ScopeKind, id string) *bucket {
	var list *[]*bucket
	switch kind {
	case ScopeDomain:
		if p.domain == nil {
			p.domain = &bucket{scope: kind}
		}
		return p.domain
	case ScopeGlobal:
		if p.global == nil {
			p.global = &bucket{scope: kind}
		}
		return p.global
	case ScopeProject:
		list = &p.projects
	default:
		list = &p.enterpriseProjects
	}
	for _, b := range *list {
		if b.scopeID == id {
			return b
		}
	}
	b := &bucket{scope: kind, scopeID: id}
	*list = append(*list, b)
	return b
}

// String returns the scope's name as used in configuration and messages.
func (k ScopeKind) String() string {
	switch k {
	case ScopeDomain:
		return "domain"
	case ScopeProject:
		return "project"
	case ScopeEnterpriseProject:
		return "enterprise_project"
	case ScopeGlobal:
		return "global"
	}
	return fmt.Sprintf("ScopeKind(%d)", int(k))
}
