package evaluator

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ecsauthz/ecsauthz/evaluator/internal/wildcard"
)

// operatorFamily groups operators by the type of their values.
type operatorFamily int

const (
	familyString operatorFamily = iota
	familyNumber
	familyDate
	familyBool
	familyIP
	familyNull     // Null: "true" means the key is absent
	familyPresence // IsNull, IsNotNull, IsNullOrEmpty: values are ignored
)

// operator is one condition operator. match tests one request value against
// one policy value. A negated operator is true when no policy value matches.
type operator struct {
	name    string
	family  operatorFamily
	negated bool
	match   func(c *condition, i int, value string) bool
}

// setMode is the multi-valued key prefix of an operator.
type setMode int

const (
	setNone      setMode = iota
	setAnyValue          // ForAnyValue: some request value satisfies the operator
	setAllValues         // ForAllValues: every request value satisfies it
)

// condition is one operator and key pair with its policy values.
type condition struct {
	op       *operator
	set      setMode
	ifExists bool
	key      conditionKey

	values   []string
	numbers  []float64
	times    []time.Time
	prefixes []netip.Prefix
	bools    []bool
}

// operators lists every supported operator by name: the 2023 Huawei list
// (StringMatch, Null, ...) and the older one (StringLike, the AnyOf forms,
// IpAddress, IsNull, ...), because existing documents use both.
var operators = map[string]*operator{}

func init() {
	str := func(name string, negated bool, match func(policy, value string) bool) {
		op := &operator{name: name, negated: negated, match: func(c *condition, i int, v string) bool {
			return match(c.values[i], v)
		}}
		operators[name] = op
		// The AnyOf forms compare against any of the values, which is what
		// every operator does with a value list, so they share the matcher.
		operators[name+"AnyOf"] = &operator{name: name + "AnyOf", negated: negated, match: op.match}
	}
	equal := func(p, v string) bool { return p == v }
	str("StringEquals", false, equal)
	str("StringNotEquals", true, equal)
	str("StringEqualsIgnoreCase", false, strings.EqualFold)
	str("StringNotEqualsIgnoreCase", true, strings.EqualFold)
	// NOTE: Huawei describes StringLike as "contains" and does not say whether
	// it and the StartWith/EndWith forms ignore case. Here they compare exactly.
	str("StringLike", false, func(p, v string) bool { return strings.Contains(v, p) })
	str("StringNotLike", true, func(p, v string) bool { return strings.Contains(v, p) })
	str("StringMatch", false, func(p, v string) bool { return wildcard.Match(p, v, false) })
	str("StringNotMatch", true, func(p, v string) bool { return wildcard.Match(p, v, false) })
	str("StringStartWith", false, func(p, v string) bool { return strings.HasPrefix(v, p) })
	str("StringNotStartWith", true, func(p, v string) bool { return strings.HasPrefix(v, p) })
	str("StringEndWith", false, func(p, v string) bool { return strings.HasSuffix(v, p) })
	str("StringNotEndWith", true, func(p, v string) bool { return strings.HasSuffix(v, p) })

	num := func(name string, negated bool, cmp func(request, policy float64) bool) {
		operators[name] = &operator{name: name, family: familyNumber, negated: negated, match: func(c *condition, i int, v string) bool {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && cmp(f, c.numbers[i])
		}}
	}
	num("NumberEquals", false, func(r, p float64) bool { return r == p })
	num("NumberNotEquals", true, func(r, p float64) bool { return r == p })
	operators["NumberEqualsAnyOf"] = &operator{name: "NumberEqualsAnyOf", family: familyNumber, match: operators["NumberEquals"].match}
	operators["NumberNotEqualsAnyOf"] = &operator{name: "NumberNotEqualsAnyOf", family: familyNumber, negated: true, match: operators["NumberNotEquals"].match}
	num("NumberLessThan", false, func(r, p float64) bool { return r < p })
	num("NumberLessThanEquals", false, func(r, p float64) bool { return r <= p })
	num("NumberGreaterThan", false, func(r, p float64) bool { return r > p })
	num("NumberGreaterThanEquals", false, func(r, p float64) bool { return r >= p })

	date := func(name string, cmp func(request, policy time.Time) bool) {
		operators[name] = &operator{name: name, family: familyDate, match: func(c *condition, i int, v string) bool {
			t, err := time.Parse(time.RFC3339Nano, v)
			return err == nil && cmp(t, c.times[i])
		}}
	}
	date("DateLessThan", func(r, p time.Time) bool { return r.Before(p) })
	date("DateLessThanEquals", func(r, p time.Time) bool { return !r.After(p) })
	date("DateGreaterThan", func(r, p time.Time) bool { return r.After(p) })
	date("DateGreaterThanEquals", func(r, p time.Time) bool { return !r.Before(p) })

	operators["Bool"] = &operator{name: "Bool", family: familyBool, match: func(c *condition, i int, v string) bool {
		b, err := strconv.ParseBool(strings.ToLower(v))
		return err == nil && b == c.bools[i]
	}}
	ip := func(name string, negated bool) {
		operators[name] = &operator{name: name, family: familyIP, negated: negated, match: func(c *condition, i int, v string) bool {
			a, err := netip.ParseAddr(v)
			return err == nil && c.prefixes[i].Contains(a.Unmap())
		}}
	}
	ip("IpAddress", false)
	ip("NotIpAddress", true)

	operators["Null"] = &operator{name: "Null", family: familyNull}
	for _, name := range []string{"IsNull", "IsNotNull", "IsNullOrEmpty"} {
		operators[name] = &operator{name: name, family: familyPresence}
	}
}

// OperatorNames returns the name of every supported condition operator,
// sorted, without prefixes or the IfExists suffix.
func OperatorNames() []string {
	names := make([]string, 0, len(operators))
	for n := range operators {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Prefixes and suffix of operator names.
const (
	prefixForAnyValue  = "ForAnyValue:"
	prefixForAllValues = "ForAllValues:"
	suffixIfExists     = "IfExists"
)

// parseConditions parses the Condition element,
// {"Operator": {"key": ["value", ...]}}. Operators and keys are visited in
// sorted order so that problems come out in a stable order.
func parseConditions(raw json.RawMessage, loc string, limits *Limits, ps *problems) []*condition {
	var byOperator map[string]map[string]json.RawMessage
	if err := strictUnmarshal(raw, &byOperator); err != nil {
		ps.errorf(ErrInvalidPolicy, loc, `must be an object of the form {"Operator": {"key": ["value"]}}: %v`, err)
		return nil
	}
	var out []*condition
	count := 0
	for _, opName := range sortedKeys(byOperator) {
		opLoc := loc + "." + opName
		op, set, ifExists, msg := parseOperatorName(opName)
		if msg != "" {
			ps.errorf(ErrUnsupportedCondition, opLoc, "%s", msg)
			continue
		}
		if len(byOperator[opName]) == 0 {
			ps.errorf(ErrInvalidPolicy, opLoc, "names no condition key")
		}
		for _, keyName := range sortedKeys(byOperator[opName]) {
			count++
			c := parseCondition(op, set, ifExists, keyName, byOperator[opName][keyName], opLoc+"."+keyName, ps)
			if c != nil {
				out = append(out, c)
			}
		}
	}
	if limits != nil && count > limits.Conditions {
		ps.errorf(ErrLimitExceeded, loc, "has %d conditions, more than the limit of %d", count, limits.Conditions)
	}
	return out
}

// parseOperatorName splits "ForAnyValue:StringEqualsIfExists" into its
// parts, or returns why the name is not supported.
func parseOperatorName(name string) (op *operator, set setMode, ifExists bool, msg string) {
	base := name
	switch {
	case strings.HasPrefix(base, prefixForAnyValue):
		set, base = setAnyValue, strings.TrimPrefix(base, prefixForAnyValue)
	case strings.HasPrefix(base, prefixForAllValues):
		set, base = setAllValues, strings.TrimPrefix(base, prefixForAllValues)
	}
	if op = operators[base]; op == nil && strings.HasSuffix(base, suffixIfExists) {
		ifExists, base = true, strings.TrimSuffix(base, suffixIfExists)
		op = operators[base]
	}
	switch {
	case op == nil:
		return nil, 0, false, fmt.Sprintf("unknown operator %q", name)
	case ifExists && (op.family == familyNull || op.family == familyPresence):
		return nil, 0, false, fmt.Sprintf("operator %q does not take the IfExists suffix", base)
	case set != setNone && (op.family == familyNull || op.family == familyPresence):
		return nil, 0, false, fmt.Sprintf("operator %q does not take a ForAnyValue or ForAllValues prefix", base)
	}
	return op, set, ifExists, ""
}

// parseCondition parses the values of one key under one operator.
func parseCondition(op *operator, set setMode, ifExists bool, keyName string, raw json.RawMessage, loc string, ps *problems) *condition {
	c := &condition{op: op, set: set, ifExists: ifExists}
	key, known := parseConditionKey(keyName)
	if !known {
		ps.warnf(loc, "unknown condition key %q; it evaluates as absent", keyName)
	}
	c.key = key

	values, err := conditionValues(raw)
	if err != nil {
		ps.errorf(ErrInvalidPolicy, loc, "values must be a list of strings: %v", err)
		return nil
	}
	if len(values) == 0 && op.family != familyPresence {
		ps.errorf(ErrInvalidPolicy, loc, "has no values")
		return nil
	}
	c.values = values

	bad := false
	for i, v := range values {
		if msg := c.addTypedValue(v); msg != "" {
			ps.errorf(ErrUnsupportedCondition, fmt.Sprintf("%s[%d]", loc, i), "operator %s: %s", op.name, msg)
			bad = true
		}
	}
	if bad {
		return nil
	}
	return c
}

// conditionValues accepts a list of strings, a single string, or JSON
// booleans and numbers, which Huawei's console also writes unquoted.
func conditionValues(raw json.RawMessage) ([]string, error) {
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		items = []json.RawMessage{raw}
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		var v any
		if err := json.Unmarshal(item, &v); err != nil {
			return nil, err
		}
		switch v := v.(type) {
		case string:
			out = append(out, v)
		case bool:
			out = append(out, strconv.FormatBool(v))
		case float64:
			out = append(out, string(item))
		default:
			return nil, fmt.Errorf("value %s is not a string, number or boolean", item)
		}
	}
	return out, nil
}

// addTypedValue parses v for the operator's family and appends it. It
// returns why v is invalid, or "".
func (c *condition) addTypedValue(v string) string {
	switch c.op.family {
	case familyNumber:
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return fmt.Sprintf("value %q is not a number", v)
		}
		c.numbers = append(c.numbers, f)
	case familyDate:
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			return fmt.Sprintf("value %q is not an RFC 3339 time such as 2026-01-02T15:04:05Z", v)
		}
		c.times = append(c.times, t)
	case familyBool, familyNull:
		switch strings.ToLower(v) {
		case "true":
			c.bools = append(c.bools, true)
		case "false":
			c.bools = append(c.bools, false)
		default:
			return fmt.Sprintf("value %q is not true or false", v)
		}
	case familyIP:
		p, err := parsePrefix(v)
		if err != nil {
			return fmt.Sprintf("value %q is not an IP address or CIDR prefix", v)
		}
		c.prefixes = append(c.prefixes, p)
	}
	return ""
}

func parsePrefix(v string) (netip.Prefix, error) {
	if strings.Contains(v, "/") {
		p, err := netip.ParsePrefix(v)
		return p.Masked(), err
	}
	a, err := netip.ParseAddr(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// eval evaluates the condition against the request.
//
// A key absent from the request (or with no values) makes the condition
// false, except with the IfExists suffix or the ForAllValues prefix, both of
// which are then true. Without a prefix, a multi-valued key such as g:TagKeys
// is satisfied when any of its values is.
//
// NOTE: Huawei documents IfExists as "true when the key is absent" but not the
// result without it. Negated operators are false for an absent key here too,
// where AWS IAM would make them true.
func (c *condition) eval(ec *evalContext) bool {
	var buf [1]string
	values, present := ec.lookup(c.key, &buf)
	switch c.op.family {
	case familyNull:
		return c.evalNull(present && len(values) > 0)
	case familyPresence:
		return c.evalPresence(values, present)
	}
	if !present || len(values) == 0 {
		return c.ifExists || c.set == setAllValues
	}
	if c.set == setAllValues {
		for _, v := range values {
			if !c.test(v) {
				return false
			}
		}
		return true
	}
	for _, v := range values {
		if c.test(v) {
			return true
		}
	}
	return false
}

// test reports whether one request value satisfies the operator. A positive
// operator needs some policy value to match, and a negated one needs none.
func (c *condition) test(v string) bool {
	for i := range c.values {
		if c.op.match(c, i, v) {
			return !c.op.negated
		}
	}
	return c.op.negated
}

// evalNull is true when some policy value states the key's presence
// correctly: "true" for an absent key, "false" for a present one.
func (c *condition) evalNull(present bool) bool {
	for _, wantAbsent := range c.bools {
		if wantAbsent != present {
			return true
		}
	}
	return false
}

func (c *condition) evalPresence(values []string, present bool) bool {
	switch c.op.name {
	case "IsNull":
		return !present
	case "IsNotNull":
		return present
	default: // IsNullOrEmpty
		return !present || !slices.ContainsFunc(values, func(v string) bool { return v != "" })
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
