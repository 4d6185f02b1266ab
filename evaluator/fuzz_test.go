package evaluator

import "testing"

// FuzzParsePolicy checks that any document either fails validation with
// located errors or compiles into an engine that can decide. Run it with
//
//	go test ./evaluator -run '^$' -fuzz FuzzParsePolicy -fuzztime 60s
//
// Crashes land in testdata/fuzz/FuzzParsePolicy and then run as regression
// inputs with every plain `go test`.
func FuzzParsePolicy(f *testing.F) {
	seeds := []string{
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]}]}`,
		`{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["ecs:cloudServers:delete"],"Resource":["ecs:*:*:instance:s-1"]}]}`,
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:get*"],"Condition":{"ForAllValues:StringNotEqualsIfExists":{"g:TagKeys":["a"]},"Null":{"g:SourceIp":["false"]},"IpAddress":{"g:SourceIp":["10.0.0.0/8"]}}}]}`,
		`{"Version":"1.1","Statement":[]}`,
		`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":"ecs:*:*"}]}`,
		`[]`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	for _, p := range BuiltinPolicies() {
		f.Add([]byte(p.Document))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		problems := CheckPolicy("fuzz", doc, DefaultLimits())
		for _, p := range problems {
			if p.Location == "" || p.Message == "" {
				t.Fatalf("problem without location or message: %+v", p)
			}
		}
		if ValidatePolicy("fuzz", doc, DefaultLimits()) != nil {
			return
		}
		data := &Data{
			Users:    []User{{ID: "u-1", DomainID: "d-1"}},
			Policies: []Policy{{Name: "fuzz", Document: doc}},
			Grants:   []Grant{{Policy: "fuzz", UserID: "u-1", Scope: ScopeDomain}},
			Servers:  []Server{{ID: "s-1", ProjectID: "p-1", Tags: map[string]string{"a": "b"}}},
		}
		engine, _, err := compile(data, testActions(), Config{})
		if err != nil {
			t.Fatalf("valid document does not compile: %v", err)
		}
		var d Decision
		engine.DecideActions(&ActionsRequest{
			Principal:   Principal{UserID: "u-1", DomainID: "d-1", MFAAge: 5},
			Actions:     []string{"ecs:cloudServers:delete", "obs:bucket:get"},
			ProjectID:   "p-1",
			Resource:    "ecs:r:d-1:instance:s-1",
			RequestTags: map[string]string{"a": "b"},
			Explain:     true,
		}, &d)
		if d.Reason == "" {
			t.Fatal("decision without reason")
		}
	})
}
