package store

import (
	"net/url"
	"strings"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Kind names one kind of object a store holds.
type Kind string

// The kinds of objects in a store.
const (
	KindPolicy     Kind = "policy"
	KindUser       Kind = "user"
	KindGroup      Kind = "group"
	KindMembership Kind = "membership"
	KindGrant      Kind = "grant"
	KindServer     Kind = "server"
)

// Kinds lists every [Kind] in the order a store loads them.
var Kinds = []Kind{KindPolicy, KindUser, KindGroup, KindMembership, KindGrant, KindServer}

// Object is one stored object of any kind together with its version.
// Exactly one of the pointer fields is set.
type Object struct {
	// Version is the optimistic-concurrency version: 0 for an object not
	// yet stored, positive once stored. Writes name the version they
	// expect; see [Writer].
	Version int64

	Policy     *evaluator.Policy
	User       *evaluator.User
	Group      *evaluator.Group
	Membership *evaluator.Membership
	Grant      *evaluator.Grant
	Server     *evaluator.Server

	// location locates an object without a Source field in the file
	// store, as "file:line".
	location string
}

// Kind returns the kind of the set field, or "" for an empty object.
func (o Object) Kind() Kind {
	switch {
	case o.Policy != nil:
		return KindPolicy
	case o.User != nil:
		return KindUser
	case o.Group != nil:
		return KindGroup
	case o.Membership != nil:
		return KindMembership
	case o.Grant != nil:
		return KindGrant
	case o.Server != nil:
		return KindServer
	}
	return ""
}

// Key returns the object's key, unique within its kind: the policy name,
// the user, group or server id, [MembershipKey] or [GrantKey].
func (o Object) Key() string {
	switch {
	case o.Policy != nil:
		return o.Policy.Name
	case o.User != nil:
		return o.User.ID
	case o.Group != nil:
		return o.Group.ID
	case o.Membership != nil:
		return MembershipKey(*o.Membership)
	case o.Grant != nil:
		return GrantKey(*o.Grant)
	case o.Server != nil:
		return o.Server.ID
	}
	return ""
}

func (o Object) source() string {
	switch {
	case o.Policy != nil:
		return o.Policy.Source
	case o.Grant != nil:
		return o.Grant.Source
	case o.location != "":
		return o.location
	}
	return string(o.Kind()) + " " + o.Key()
}

// MembershipKey returns "<group id>/<user id>" with both ids
// path-escaped, so the key never contains a stray '/'.
func MembershipKey(m evaluator.Membership) string {
	return url.PathEscape(m.GroupID) + "/" + url.PathEscape(m.UserID)
}

// GrantKey returns the key of a grant, which is all of its fields:
// "<group|user>:<id>/<scope>[:<scope id>]/<policy>", each part
// path-escaped. Two grants with the same key are the same grant.
func GrantKey(g evaluator.Grant) string {
	// Loading a large store builds this key for every grant twice (to
	// find duplicates and to sort), so it is built in one allocation.
	kind, id := "user:", url.PathEscape(g.UserID)
	if g.GroupID != "" {
		kind, id = "group:", url.PathEscape(g.GroupID)
	}
	scope, scopeID, policy := ScopeName(g.Scope), url.PathEscape(g.ScopeID), url.PathEscape(g.Policy)
	var b strings.Builder
	b.Grow(len(kind) + len(id) + len(scope) + len(scopeID) + len(policy) + 3)
	b.WriteString(kind)
	b.WriteString(id)
	b.WriteByte('/')
	b.WriteString(scope)
	if scopeID != "" {
		b.WriteByte(':')
		b.WriteString(scopeID)
	}
	b.WriteByte('/')
	b.WriteString(policy)
	return b.String()
}

// objectsOf lists every object of d, in [Kinds] order. locations holds,
// per kind, the "file:line" of objects without a Source field; it may be
// nil.
func objectsOf(d *evaluator.Data, locations map[Kind][]string) []Object {
	at := func(k Kind, i int) string {
		if i < len(locations[k]) {
			return locations[k][i]
		}
		return ""
	}
	objs := make([]Object, 0, len(d.Policies)+len(d.Users)+len(d.Groups)+
		len(d.Memberships)+len(d.Grants)+len(d.Servers))
	for i := range d.Policies {
		objs = append(objs, Object{Policy: &d.Policies[i]})
	}
	for i := range d.Users {
		objs = append(objs, Object{User: &d.Users[i], location: at(KindUser, i)})
	}
	for i := range d.Groups {
		objs = append(objs, Object{Group: &d.Groups[i], location: at(KindGroup, i)})
	}
	for i := range d.Memberships {
		objs = append(objs, Object{Membership: &d.Memberships[i], location: at(KindMembership, i)})
	}
	for i := range d.Grants {
		objs = append(objs, Object{Grant: &d.Grants[i]})
	}
	for i := range d.Servers {
		objs = append(objs, Object{Server: &d.Servers[i], location: at(KindServer, i)})
	}
	return objs
}
