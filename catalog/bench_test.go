package catalog

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"
)

const benchProject = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// benchmarkResolve resolves req in a loop. wantErr is the sentinel error
// every call must return, or nil.
func benchmarkResolve(b *testing.B, c *Catalog, req *Request, wantErr error) {
	b.Helper()
	var res Resolution
	if err := c.Resolve(req, &res); !errors.Is(err, wantErr) {
		b.Fatalf("Resolve() error = %v, want %v", err, wantErr)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = c.Resolve(req, &res)
	}
}

// BenchmarkResolveBuiltin resolves requests against the built-in catalog.
func BenchmarkResolveBuiltin(b *testing.B) {
	c := mustLoad(b)
	cases := []struct {
		name    string
		req     Request
		wantErr error
	}{
		{"hit5segments", Request{Method: "GET", Target: "/v1/" + benchProject + "/cloudservers/s-0001/os-interface"}, nil},
		{"hitList", Request{Method: "GET", Target: "/v1/" + benchProject + "/cloudservers/detail?limit=25"}, nil},
		{"hitListEnterpriseProject", Request{Method: "GET", Target: "/v1/" + benchProject + "/cloudservers/detail?enterprise_project_id=ep-dev-0001"}, nil},
		{"escapedHit", Request{Method: "GET", Target: "/v1/" + benchProject + "/cloudservers/s%2D0001/os-interface"}, nil},
		{"miss", Request{Method: "GET", Target: "/v1/" + benchProject + "/cloudservers/s-0001/unknown"}, ErrUnknownRoute},
		{"createWithEIP", Request{Method: "POST", Target: "/v1/" + benchProject + "/cloudservers",
			Body: []byte(`{"server":{"name":"a","imageRef":"i","flavorRef":"f","publicip":{"eip":{"iptype":"5_bgp","bandwidth":{"size":10,"sharetype":"PER"}}},"extendparam":{"enterprise_project_id":"ep-dev-0001"}}}`)}, nil},
		{"batchStop", Request{Method: "POST", Target: "/v1/" + benchProject + "/cloudservers/action",
			Body: []byte(`{"os-stop":{"type":"SOFT","servers":[{"id":"s-0001"},{"id":"s-0002"}]}}`)}, nil},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) { benchmarkResolve(b, c, &tc.req, tc.wantErr) })
	}
}

// syntheticCatalog returns a catalog of n routes of the shape
// /v1/{project_id}/serviceI/resourceJ/{item_id}, spread over n/100 services.
func syntheticCatalog(b *testing.B, n int) *Catalog {
	b.Helper()
	var y strings.Builder
	y.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&y, "  - method: GET\n    path: /v1/{project_id}/service%d/resource%d/{item_id}\n", i/100, i%100)
		fmt.Fprintf(&y, "    description_zh: 合成\n    description_en: Synthetic\n    actions: [svc%d:resource%d:get]\n", i/100, i%100)
	}
	c, err := LoadFS(fstest.MapFS{"synthetic.yaml": {Data: []byte(y.String())}})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkResolveSynthetic resolves a five-segment hit, like the builtin
// hit5segments case, in a catalog of 10,000 routes.
func BenchmarkResolveSynthetic(b *testing.B) {
	c := syntheticCatalog(b, 10_000)
	req := &Request{Method: "GET", Target: "/v1/" + benchProject + "/service73/resource41/item-0001"}
	b.Run("hit5segments", func(b *testing.B) { benchmarkResolve(b, c, req, nil) })
}
