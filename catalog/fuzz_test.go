package catalog

import (
	"errors"
	"testing"
)

// FuzzResolve checks canonicalization and matching on arbitrary targets:
// nothing panics, a canonical path is stable when canonicalized again, and
// a rejected target never matches a route. Run it with
//
//	go test ./catalog -run '^$' -fuzz FuzzResolve -fuzztime 30s
//
// The seeds below and testdata/fuzz/FuzzResolve form the seed corpus.
func FuzzResolve(f *testing.F) {
	seeds := []struct {
		method, target, body string
	}{
		{"GET", "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/cloudservers/detail?enterprise_project_id=all_granted_eps", ""},
		{"GET", "/v1/p1/cloudservers/s-0001", ""},
		{"POST", "/v1/p1/cloudservers", `{"server":{"publicip":{"eip":{}}}}`},
		{"POST", "/v1/p1/cloudservers/action", `{"os-stop":{"servers":[{"id":"s-0001"}]}}`},
		{"POST", "/v2.1/p1/servers/s-0001/action", `{"createImage":{"name":"i"}}`},
		{"GET", "/v1/p1/cloudservers/%2e%2e/s-0001", ""},
		{"GET", "/v1/p1%2fcloudservers/detail", ""},
		{"GET", "/v1/p1/cloudservers/s%3f1?x=1", ""},
		{"GET", "/v1/p1/cloudservers;a=b/detail", ""},
		{"GET", "//v1/p1/cloudservers/detail", ""},
		{"GET", "http://h/v1/p1/cloudservers/detail", ""},
		{"GET", "/v1/p1/cloudservers/%c0%ae%c0%ae", ""},
		{"DELETE", "/v2.1/p1/servers/s-0001/tags/%E4%B8%AD", ""},
		{"POST", "/v1/p1/cloudservers", `{"server":{"name":"a"},"Server":{"publicip":{"eip":{"iptype":"5_bgp"}}}}`},
		{"POST", "/v1/p1/cloudservers/delete", `{"servers":[{"id":"s-0001","ID":"s-0003"}]}`},
		{"POST", "/v1/p1/cloudservers/action", `{"os-start":{},"OS-START":{}}`},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, []byte(s.body))
	}

	c, err := Load()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, target string, body []byte) {
		path, query, canonErr := Canonicalize(target)
		if canonErr == nil {
			again, againQuery, err := Canonicalize(path)
			if err != nil {
				t.Fatalf("Canonicalize(%q) = %q, then Canonicalize(%q) error: %v", target, path, path, err)
			}
			if again != path || againQuery != "" {
				t.Fatalf("Canonicalize(%q) = %q, then %q, %q", target, path, again, againQuery)
			}
			_ = query
		}

		var res Resolution
		err := c.Resolve(&Request{Method: method, Target: target, Body: body}, &res)
		if canonErr != nil {
			if !errors.Is(err, ErrInvalidPath) || res.Route != nil || res.Actions != nil {
				t.Fatalf("Resolve(%q) = route %v, actions %d, error %v after canonicalization failed", target, res.Route, len(res.Actions), err)
			}
			return
		}
		if err == nil && len(res.Actions) == 0 {
			t.Fatalf("Resolve(%s %q) succeeded with no actions", method, target)
		}
		if err != nil && res.Actions != nil {
			t.Fatalf("Resolve(%s %q) returned actions with error %v", method, target, err)
		}
	})
}
