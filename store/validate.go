package store

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// PolicyValidator checks one policy document before a store accepts it and
// returns every problem at once, or nil. The name is used in locations.
type PolicyValidator func(name string, document []byte) error

// MaxPolicyNameLength is the maximum length of a policy name, in bytes. IAM
// limits custom policy names to 64 characters; the limit here is looser so
// that built-in names with spaces and imported names still fit.
const MaxPolicyNameLength = 128

// checkPolicyDocument checks the name, then the document with validate,
// or without a validator only its structure: a JSON object with Version
// and Statement.
func checkPolicyDocument(validate PolicyValidator, name string, doc []byte) error {
	if name == "" {
		return errors.New("policy name is empty")
	}
	if len(name) > MaxPolicyNameLength {
		return fmt.Errorf("policy name %q is longer than %d bytes", name, MaxPolicyNameLength)
	}
	if validate != nil {
		// The validator checks the structure too, and names the policy in
		// each of its locations.
		return validate(name, doc)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(doc, &top); err != nil {
		return fmt.Errorf("policy %q: document is not a JSON object: %w", name, err)
	}
	if _, ok := top["Version"]; !ok {
		return fmt.Errorf("policy %q: missing Version", name)
	}
	if _, ok := top["Statement"]; !ok {
		return fmt.Errorf("policy %q: missing Statement", name)
	}
	return nil
}

// locate wraps err in a [LoadError] whose location comes from a Source
// field of the form "file:line" or "key".
func locate(source string, err error) error {
	file, line := source, 0
	if i := strings.LastIndexByte(source, ':'); i > 0 {
		if n, convErr := strconv.Atoi(source[i+1:]); convErr == nil {
			file, line = source[:i], n
		}
	}
	return &LoadError{File: file, Line: line, Err: err}
}

// scopeNames maps the scope names of the store schema to scope kinds.
var scopeNames = map[string]evaluator.ScopeKind{
	"domain":             evaluator.ScopeDomain,
	"project":            evaluator.ScopeProject,
	"enterprise_project": evaluator.ScopeEnterpriseProject,
	"global":             evaluator.ScopeGlobal,
}

// ParseScope returns the scope kind named by s (domain, project,
// enterprise_project or global).
func ParseScope(s string) (evaluator.ScopeKind, error) {
	k, ok := scopeNames[s]
	if !ok {
		return 0, fmt.Errorf("invalid scope %q: want domain, project, enterprise_project or global", s)
	}
	return k, nil
}

// ScopeName returns the schema name of k, or "" for an invalid kind.
func ScopeName(k evaluator.ScopeKind) string {
	switch k {
	case evaluator.ScopeDomain:
		return "domain"
	case evaluator.ScopeProject:
		return "project"
	case evaluator.ScopeEnterpriseProject:
		return "enterprise_project"
	case evaluator.ScopeGlobal:
		return "global"
	}
	return ""
}

// validateGrant checks the fields of one grant on its own.
func validateGrant(g *evaluator.Grant) error {
	var errs []error
	if g.Policy == "" {
		errs = append(errs, errors.New("grant: missing policy"))
	}
	if (g.GroupID == "") == (g.UserID == "") {
		errs = append(errs, errors.New("grant: set exactly one of group and user"))
	}
	switch g.Scope {
	case evaluator.ScopeProject, evaluator.ScopeEnterpriseProject:
		if g.ScopeID == "" {
			errs = append(errs, fmt.Errorf("grant: scope %s needs scope_id", ScopeName(g.Scope)))
		}
	case evaluator.ScopeDomain, evaluator.ScopeGlobal:
		if g.ScopeID != "" {
			errs = append(errs, fmt.Errorf("grant: scope %s takes no scope_id, got %q", ScopeName(g.Scope), g.ScopeID))
		}
	default:
		errs = append(errs, fmt.Errorf("grant: invalid scope kind %d", g.Scope))
	}
	return errors.Join(errs...)
}

// validateObject checks the fields of one object on its own, without
// looking at other objects.
func validateObject(validate PolicyValidator, o *Object) error {
	switch {
	case o.Policy != nil:
		return checkPolicyDocument(validate, o.Policy.Name, o.Policy.Document)
	case o.User != nil:
		return requireFields("user", "id", o.User.ID, "name", o.User.Name, "domain_id", o.User.DomainID)
	case o.Group != nil:
		return requireFields("group", "id", o.Group.ID, "name", o.Group.Name, "domain_id", o.Group.DomainID)
	case o.Membership != nil:
		return requireFields("membership", "group", o.Membership.GroupID, "user", o.Membership.UserID)
	case o.Grant != nil:
		return validateGrant(o.Grant)
	case o.Server != nil:
		return requireFields("server", "id", o.Server.ID, "project_id", o.Server.ProjectID,
			"enterprise_project_id", o.Server.EnterpriseProjectID)
	}
	return errors.New("object has no content")
}

// requireFields returns an error naming every empty field; pairs holds
// field names followed by their values.
func requireFields(what string, pairs ...string) error {
	var missing []string
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			missing = append(missing, pairs[i])
		}
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("%s: missing %s", what, strings.Join(missing, ", "))
}

// ValidateData checks a whole store: every object on its own, duplicate
// keys, and that memberships and grants name existing users and groups.
// Grants may name policies the store does not hold (built-in policies); the
// evaluator rejects names it does not know. The error joins every problem,
// each a [*LoadError] located by the object's Source.
func ValidateData(validate PolicyValidator, d *evaluator.Data) error {
	return validateData(validate, d, nil)
}

// validateData is [ValidateData] with the locations of the objects that
// have no Source field (see [objectsOf]).
func validateData(validate PolicyValidator, d *evaluator.Data, locations map[Kind][]string) error {
	var errs []error
	objects := objectsOf(d, locations)
	seen := make(map[string]string, len(objects))
	check := func(o Object, source string) {
		if err := validateObject(validate, &o); err != nil {
			errs = append(errs, locate(source, err))
			return
		}
		key := string(o.Kind()) + "/" + o.Key()
		if prev, dup := seen[key]; dup {
			errs = append(errs, locate(source, fmt.Errorf("duplicate %s %q, first defined at %s", o.Kind(), o.Key(), prev)))
			return
		}
		seen[key] = source
	}
	for _, o := range objects {
		check(o, o.source())
	}

	// References from memberships and grants.
	for i := range d.Memberships {
		m := &d.Memberships[i]
		errs = appendMissingRef(errs, seen, m.GroupID, m.UserID, membershipSource(locations[KindMembership], i))
	}
	for i := range d.Grants {
		g := &d.Grants[i]
		errs = appendMissingRef(errs, seen, g.GroupID, g.UserID, g.Source)
	}
	return errors.Join(errs...)
}

func appendMissingRef(errs []error, seen map[string]string, groupID, userID, source string) []error {
	if groupID != "" {
		if _, ok := seen[string(KindGroup)+"/"+groupID]; !ok {
			errs = append(errs, locate(source, fmt.Errorf("group %q not found", groupID)))
		}
	}
	if userID != "" {
		if _, ok := seen[string(KindUser)+"/"+userID]; !ok {
			errs = append(errs, locate(source, fmt.Errorf("user %q not found", userID)))
		}
	}
	return errs
}

func membershipSource(sources []string, i int) string {
	if i < len(sources) {
		return sources[i]
	}
	return "memberships[" + strconv.Itoa(i) + "]"
}

// SortData puts every list of d in key order, so that two loads of the same
// content compare equal whatever the backend.
func SortData(d *evaluator.Data) {
	sortByKey(d.Policies, func(p *evaluator.Policy) string { return p.Name })
	sortByKey(d.Users, func(u *evaluator.User) string { return u.ID })
	sortByKey(d.Groups, func(g *evaluator.Group) string { return g.ID })
	sortByKey(d.Memberships, func(m *evaluator.Membership) string { return MembershipKey(*m) })
	sortByKey(d.Grants, func(g *evaluator.Grant) string { return GrantKey(*g) })
	sortByKey(d.Servers, func(s *evaluator.Server) string { return s.ID })
}

// sortByKey sorts list by key, keeping the order of equal keys. Each key is
// computed once, because building grant keys inside the comparison would
// dominate the load of a large store.
func sortByKey[T any](list []T, key func(*T) string) {
	type keyed struct {
		key   string
		index int
	}
	order := make([]keyed, len(list))
	for i := range list {
		order[i] = keyed{key: key(&list[i]), index: i}
	}
	slices.SortFunc(order, func(a, b keyed) int {
		if c := strings.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.index, b.index)
	})
	sorted := make([]T, len(list))
	for i, k := range order {
		sorted[i] = list[k.index]
	}
	copy(list, sorted)
}

// compactJSON returns doc without insignificant white space, or doc itself
// when it is not valid JSON.
func compactJSON(doc []byte) []byte {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return doc
	}
	return buf.Bytes()
}
