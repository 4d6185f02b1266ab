package store

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// flatJSONSeeds are etcd grant values for the fast path, both those it
// handles and those it leaves to encoding/json.
var flatJSONSeeds = []string{
	`{"policy":"p","group":"g","scope":"project","scope_id":"x"}`,
	`{"policy":"p","user":"u","scope":"domain"}`,
	`{}`,
	`{"policy":"a","policy":"b","scope":"domain"}`,
	`{"Policy":"p","scope":"domain"}`,
	`{"policy":"p","extra":"x"}`,
	`{"policy":"p\u0041","scope":"domain"}`,
	`{"policy":"p\\q","scope":"domain"}`,
	"{\"policy\":\"\xff\",\"scope\":\"domain\"}",
	`{"policy":"p","scope":"domain"} `,
	`{"policy":"p","scope":"domain"}x`,
	`{"policy":"p","scope":"domain"}}`,
	`{ "policy":"p"}`,
	`{"policy":null}`,
	`{"policy":1}`,
	`{"policy":"p",}`,
	`{"policy":"p"`,
	`{"policy"`,
	`{`,
	`[]`,
	``,
}

// decodeGrantDocs decodes value with the fast path and with encoding/json
// and fails t if the fast path accepts value with another result.
func decodeGrantDocs(t *testing.T, value []byte) (fast bool) {
	var got, want grantDoc
	fast = decodeFlatStrings(value, grantFields, []*string{&got.Policy, &got.Group, &got.User, &got.Scope, &got.ScopeID})
	var d jsonValueDecoder
	err := d.decode(value, &want)
	if !fast {
		if got != (grantDoc{}) {
			t.Errorf("%q: fast path returned false but set %+v", value, got)
		}
		return false
	}
	if err != nil {
		t.Errorf("%q: fast path accepted a value encoding/json rejects: %v", value, err)
		return true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("%q: fast path result differs from encoding/json (-json +fast):\n%s", value, diff)
	}
	return true
}

func TestDecodeFlatStringsMatchesJSON(t *testing.T) {
	wantFast := map[string]bool{
		flatJSONSeeds[0]: true,
		flatJSONSeeds[1]: true,
		flatJSONSeeds[2]: true,
		flatJSONSeeds[3]: true,
	}
	for _, s := range flatJSONSeeds {
		if fast := decodeGrantDocs(t, []byte(s)); fast != wantFast[s] {
			t.Errorf("%q: fast path returned %v, want %v", s, fast, wantFast[s])
		}
	}
}

func TestJSONValueDecoderReuse(t *testing.T) {
	var d jsonValueDecoder
	values := []struct {
		in      string
		wantErr bool
	}{
		{`{"policy":"a","scope":"domain"}`, false},
		{`{"policy":"b"} `, false},
		{`{"policy":"c"}x`, true},
		{`{"policy":"d","unknown":1}`, true},
		{`{"policy":`, true},
		{`{"policy":"e"}`, false},
	}
	for _, v := range values {
		var g grantDoc
		err := d.decode([]byte(v.in), &g)
		if (err != nil) != v.wantErr {
			t.Errorf("%q: error %v, want error %v", v.in, err, v.wantErr)
		}
		if !v.wantErr && g.Policy == "" {
			t.Errorf("%q: policy not decoded", v.in)
		}
	}
}

// FuzzDecodeFlatStrings checks that the fast path for flat etcd values
// returns what encoding/json returns whenever it accepts a value. Run it
// with
//
//	go test ./store/ -run '^$' -fuzz FuzzDecodeFlatStrings -fuzztime 60s
func FuzzDecodeFlatStrings(f *testing.F) {
	for _, s := range flatJSONSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, value []byte) {
		decodeGrantDocs(t, value)
	})
}

func TestGrantKeyMatches(t *testing.T) {
	grants := []evaluator.Grant{
		{Policy: "p", UserID: "u", Scope: evaluator.ScopeDomain},
		{Policy: "ECS ReadOnlyAccess", GroupID: "g/1", Scope: evaluator.ScopeProject, ScopeID: "x:y"},
		{Policy: "p%", GroupID: "g", Scope: evaluator.ScopeEnterpriseProject, ScopeID: "0"},
	}
	for _, g := range grants {
		key := GrantKey(g)
		if !grantKeyMatches(key, g) {
			t.Errorf("grantKeyMatches(%q, %+v) = false, want true", key, g)
		}
		for _, other := range []string{key + "x", key[:len(key)-1], "", "x" + key} {
			if grantKeyMatches(other, g) {
				t.Errorf("grantKeyMatches(%q, %+v) = true, want false", other, g)
			}
		}
		for _, h := range grants {
			if h != g && grantKeyMatches(key, h) {
				t.Errorf("grantKeyMatches(%q, %+v) = true, want false", key, h)
			}
		}
	}
}
