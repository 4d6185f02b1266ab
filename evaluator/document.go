package evaluator

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ecsauthz/ecsauthz/evaluator/internal/wildcard"
)

// PolicyVersion is the only policy language version the evaluator accepts.
const PolicyVersion = "1.1"

// Effects of a statement.
const (
	EffectAllow = "Allow"
	EffectDeny  = "Deny"
)

// compiledPolicy is a parsed, validated policy document.
type compiledPolicy struct {
	name       string
	builtin    bool
	statements []*statement
	// ordinal numbers the policy within one engine, from 0.
	ordinal int

	// allow and deny hold, per catalog action ID, the union of the fast
	// statements of each effect. bindCatalog fills them.
	allow, deny bitset
	// slow lists the statements that need per-request evaluation because
	// they have conditions or a resource restriction.
	slow []*statement
}

// statement is one compiled Statement element.
type statement struct {
	policy *compiledPolicy
	index  int
	deny   bool
	// actions are the Action patterns, as written.
	actions []string
	// resources is nil when the statement has no Resource element.
	resources []resourcePattern
	// anyResource is true when Resource is absent or one entry matches
	// every URN ("*" or "*:*:*:*:*").
	anyResource bool
	conditions  []*condition
	// actionSet holds the catalog action IDs any pattern matches, by name
	// or alias. bindCatalog fills it.
	actionSet bitset
}

// effect returns the statement's Effect as written in documents.
func (s *statement) effect() string {
	if s.deny {
		return EffectDeny
	}
	return EffectAllow
}

// fast reports whether the statement applies to every request for its
// actions, so its effect can be folded into the per-principal bitsets.
func (s *statement) fast() bool {
	return s.anyResource && len(s.conditions) == 0
}

// matchesName reports whether one of the statement's Action patterns matches
// name. Service names are lower case by validation, and the resource type and
// operation compare case-insensitively, so the whole name is folded.
func (s *statement) matchesName(name string) bool {
	for _, p := range s.actions {
		if wildcard.Match(p, name, true) {
			return true
		}
	}
	return false
}

// ValidatePolicy checks a custom policy document against the policy language
// and limits. It returns nil for a valid document, or an error joining every
// problem, each prefixed with its location (policy "x", Statement[2].Action[0]).
// Warnings, such as an unknown condition key, are not errors. Use
// [CheckPolicy] to see them.
func ValidatePolicy(name string, doc []byte, limits Limits) error {
	return validatePolicyCached(name, doc, limits).err()
}

// CheckPolicy checks a custom policy document like [ValidatePolicy] and
// returns every problem, errors and warnings, in document order. It returns
// nil for a document without findings.
func CheckPolicy(name string, doc []byte, limits Limits) []Problem {
	var ps problems
	parsePolicy(name, doc, &limits, &ps)
	return ps.list
}

// parsePolicy parses and validates one document, recording every problem in
// ps. Statement indexes in locations start at 0. A nil limits skips the limit
// checks (built-in policies). The result is nil when any error was recorded.
func parsePolicy(name string, doc []byte, limits *Limits, ps *problems) *compiledPolicy {
	loc := fmt.Sprintf("policy %q", name)
	before := errorCount(ps)
	if name == "" {
		ps.errorf(ErrInvalidPolicy, loc, "policy name is empty")
	}
	if limits != nil {
		if n := utf8.RuneCount(doc); n > limits.DocumentChars {
			ps.errorf(ErrLimitExceeded, loc, "document has %d characters, more than the limit of %d", n, limits.DocumentChars)
		}
	}

	var fields map[string]json.RawMessage
	if err := strictUnmarshal(doc, &fields); err != nil {
		ps.errorf(ErrInvalidPolicy, loc, "document is not a JSON object: %v", err)
		return nil
	}
	checkFields(fields, loc, ps, "Version", "Statement")

	var version string
	if raw, ok := fields["Version"]; !ok {
		ps.errorf(ErrInvalidPolicy, loc+", Version", "missing; set it to %q", PolicyVersion)
	} else if err := strictUnmarshal(raw, &version); err != nil || version != PolicyVersion {
		ps.errorf(ErrInvalidPolicy, loc+", Version", "must be %q, got %s", PolicyVersion, raw)
	}

	statements := decodeStatements(fields, loc, ps)
	if limits != nil && len(statements) > limits.Statements {
		ps.errorf(ErrLimitExceeded, loc+", Statement", "has %d statements, more than the limit of %d", len(statements), limits.Statements)
	}

	pol := &compiledPolicy{name: name}
	for i, stFields := range statements {
		stLoc := loc + ", Statement[" + strconv.Itoa(i) + "]"
		var st *statement
		if stFields.err != nil {
			ps.errorf(ErrInvalidPolicy, stLoc, "statement is not a JSON object: %v", stFields.err)
		} else {
			st = parseStatement(stFields.fields, stLoc, limits, ps)
		}
		if st != nil {
			st.policy, st.index = pol, i
			pol.statements = append(pol.statements, st)
		}
	}
	if errorCount(ps) > before {
		return nil
	}
	return pol
}

// statementFields is one element of the Statement list, split into its
// fields, or the reason it is not a JSON object.
type statementFields struct {
	fields map[string]json.RawMessage
	err    error
}

// decodeStatements splits the Statement element into its statements. It
// records an error when Statement is missing, not a list or empty.
//
// Most documents are valid, so the whole list is decoded in one call. When
// that fails, each element is decoded on its own, so that the error names
// the statement that is not an object.
func decodeStatements(fields map[string]json.RawMessage, loc string, ps *problems) []statementFields {
	raw, ok := fields["Statement"]
	if !ok {
		ps.errorf(ErrInvalidPolicy, loc+", Statement", "missing")
		return nil
	}
	var objects []map[string]json.RawMessage
	if err := strictUnmarshal(raw, &objects); err == nil {
		if len(objects) == 0 {
			ps.errorf(ErrInvalidPolicy, loc+", Statement", "is empty")
		}
		out := make([]statementFields, len(objects))
		for i, o := range objects {
			out[i].fields = o
		}
		return out
	}

	var rawStatements []json.RawMessage
	if err := strictUnmarshal(raw, &rawStatements); err != nil {
		ps.errorf(ErrInvalidPolicy, loc+", Statement", "must be a list of statements: %v", err)
		return nil
	}
	if len(rawStatements) == 0 {
		ps.errorf(ErrInvalidPolicy, loc+", Statement", "is empty")
	}
	out := make([]statementFields, len(rawStatements))
	for i, r := range rawStatements {
		out[i].err = strictUnmarshal(r, &out[i].fields)
	}
	return out
}

// parseStatement parses the fields of one statement. It returns nil after
// recording an error that leaves the statement unusable.
func parseStatement(fields map[string]json.RawMessage, loc string, limits *Limits, ps *problems) *statement {
	checkFields(fields, loc, ps, "Effect", "Action", "Resource", "Condition")
	st := &statement{anyResource: true}

	var effect string
	if rawEffect, ok := fields["Effect"]; !ok {
		ps.errorf(ErrInvalidPolicy, loc+".Effect", "missing; use %q or %q", EffectAllow, EffectDeny)
	} else if err := strictUnmarshal(rawEffect, &effect); err != nil || (effect != EffectAllow && effect != EffectDeny) {
		ps.errorf(ErrInvalidPolicy, loc+".Effect", "must be %q or %q, got %s", EffectAllow, EffectDeny, rawEffect)
	}
	st.deny = effect == EffectDeny

	st.actions = parseActions(fields["Action"], loc+".Action", limits, ps)

	if rawResource, ok := fields["Resource"]; ok {
		st.resources, st.anyResource = parseResources(rawResource, loc+".Resource", limits, ps)
	}
	if rawCondition, ok := fields["Condition"]; ok {
		st.conditions = parseConditions(rawCondition, loc+".Condition", limits, ps)
	}
	return st
}

func parseActions(raw json.RawMessage, loc string, limits *Limits, ps *problems) []string {
	var list []string
	if raw == nil {
		ps.errorf(ErrInvalidPolicy, loc, "missing")
		return nil
	}
	if err := strictUnmarshal(raw, &list); err != nil {
		ps.errorf(ErrInvalidPolicy, loc, "must be a list of strings: %v", err)
		return nil
	}
	if len(list) == 0 {
		ps.errorf(ErrInvalidPolicy, loc, "is empty")
	}
	if limits != nil && len(list) > limits.ActionsPerStatement {
		ps.errorf(ErrLimitExceeded, loc, "has %d actions, more than the limit of %d", len(list), limits.ActionsPerStatement)
	}
	for i, a := range list {
		if msg := checkActionPattern(a); msg != "" {
			ps.errorf(ErrInvalidPolicy, fmt.Sprintf("%s[%d]", loc, i), "invalid action %q: %s", a, msg)
		}
	}
	return list
}

// checkActionPattern returns why pattern is not a valid action pattern, or ""
// when it is valid. A pattern is service:resourceType:operation with a lower
// case service. The wildcards '*' and '?' may stand for any part, across ':'
// too.
func checkActionPattern(pattern string) string {
	if pattern == "" {
		return "empty"
	}
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if !isNameByte(c) && c != ':' && c != '*' && c != '?' {
			return fmt.Sprintf("character %q is not allowed", c)
		}
	}
	service, _, _ := strings.Cut(pattern, ":")
	if strings.ToLower(service) != service {
		return "the service name must be lower case"
	}
	if !wildcard.HasWildcard(pattern) {
		parts := strings.Split(pattern, ":")
		if len(parts) != 3 || slices.Contains(parts, "") {
			return "expected service:resourceType:operation"
		}
	}
	return ""
}

func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

func parseResources(raw json.RawMessage, loc string, limits *Limits, ps *problems) ([]resourcePattern, bool) {
	var list []string
	if err := strictUnmarshal(raw, &list); err != nil {
		ps.errorf(ErrInvalidPolicy, loc, "must be a list of strings: %v", err)
		return nil, false
	}
	if len(list) == 0 {
		ps.errorf(ErrInvalidPolicy, loc, "is empty; omit Resource to cover every resource")
	}
	if limits != nil && len(list) > limits.ResourcesPerStatement {
		ps.errorf(ErrLimitExceeded, loc, "has %d resources, more than the limit of %d", len(list), limits.ResourcesPerStatement)
	}
	var out []resourcePattern
	anyResource := false
	for i, r := range list {
		rp, err := parseResourcePattern(r)
		if err != "" {
			ps.errorf(ErrInvalidPolicy, fmt.Sprintf("%s[%d]", loc, i), "invalid resource %q: %s", r, err)
			continue
		}
		anyResource = anyResource || rp.matchesAll()
		out = append(out, rp)
	}
	return out, anyResource
}

// strictUnmarshal decodes one JSON value and rejects trailing data.
// json.Unmarshal checks the whole input, so it rejects trailing data too,
// and it avoids the buffer a json.Decoder allocates per call. The targets
// here are maps, slices and strings, which have no unknown fields to
// reject.
func strictUnmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v)
}

// checkFields records an error for every key of fields not in allowed, in
// sorted order so that messages are stable.
func checkFields(fields map[string]json.RawMessage, loc string, ps *problems, allowed ...string) {
	var unknown []string
	for k := range fields {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		ps.errorf(ErrInvalidPolicy, loc, "unknown field %q; allowed fields are %s", k, strings.Join(allowed, ", "))
	}
}

func errorCount(ps *problems) int {
	n := 0
	for _, p := range ps.list {
		if !p.Warning {
			n++
		}
	}
	return n
}
