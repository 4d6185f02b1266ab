package store

import (
	"errors"
	"testing"
)

// FuzzResourceDocument feeds arbitrary bytes to the YAML and JSON resource
// document parsers: they must return errors, never panic, and every error
// must be a *LoadError. Run it with
//
//	go test ./store/ -run '^$' -fuzz FuzzResourceDocument -fuzztime 60s
func FuzzResourceDocument(f *testing.F) {
	seeds := []string{
		"users:\n  - {id: u1, name: n, domain_id: d}\n",
		"grants:\n  - {policy: p, group: g, scope: project, scope_id: x}\n",
		"servers:\n  - id: s1\n    project_id: p\n    tags: {team: dev}\n",
		"users: !00000000000000\n00000000:0000000000000000000",
		"users:\n  - &a {id: u1}\n  - *a\n",
		`{"users": [{"id": "u1", "name": "n", "domain_id": "d"}]}`,
		`{"grants": [{"policy": "p", "user": "u", "scope": "domain"}], "x": 1}`,
		"[1, 2]",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, file := range []string{"doc.yaml", "doc.json"} {
			var r resourceDoc
			var errs []error
			if file == "doc.json" {
				errs = r.parseJSON(file, src)
			} else {
				errs = r.parse(file, src)
			}
			for _, err := range errs {
				var le *LoadError
				if !errors.As(err, &le) {
					t.Errorf("%s: error %v (%T) is not a *LoadError", file, err, err)
				}
			}
		}
	})
}
