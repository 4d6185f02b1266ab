package catalog

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonicalizeAccepts(t *testing.T) {
	tests := []struct {
		target, wantPath, wantQuery string
	}{
		{"/v1/p1/cloudservers", "/v1/p1/cloudservers", ""},
		{"/v1/p1/cloudservers/detail?limit=25&offset=1", "/v1/p1/cloudservers/detail", "limit=25&offset=1"},
		{"/v1/p1/cloudservers?", "/v1/p1/cloudservers", ""},
		{"/v1/p1/cloudservers?a=1?b=2", "/v1/p1/cloudservers", "a=1?b=2"},
		{"/v1/p1/cloudservers/s%2D1", "/v1/p1/cloudservers/s-1", ""},
		{"/v1/p1/cloudservers/s%3f1?x", "/v1/p1/cloudservers/s%3F1", "x"},
		{"/v1/p1/tags/%e4%b8%ad", "/v1/p1/tags/%E4%B8%AD", ""},
		{"/v1/p1/a%252fb", "/v1/p1/a%252fb", ""}, // decoded once only
		{"/v1/p1/a%2Bb", "/v1/p1/a+b", ""},
		{"/v1/p%31/cloudservers", "/v1/p1/cloudservers", ""},
		{"/v1/p1/a%20b", "/v1/p1/a%20b", ""},
		{"/v1/p1/a{b}", "/v1/p1/a%7Bb%7D", ""},
		{"/v1/p1/a+b", "/v1/p1/a+b", ""},
		{"/v1/p1/.hidden", "/v1/p1/.hidden", ""},
		{"/v1/p1/...", "/v1/p1/...", ""},
		{"/v1/p1/cloudservers/", "/v1/p1/cloudservers/", ""}, // trailing '/' is kept and matches no route
		{"/", "/", ""},
		{"/v1/p1/a%3Bb", "/v1/p1/a%3Bb", ""},
	}
	for _, tt := range tests {
		path, query, err := Canonicalize(tt.target)
		if err != nil {
			t.Errorf("Canonicalize(%q) error: %v", tt.target, err)
			continue
		}
		if path != tt.wantPath || query != tt.wantQuery {
			t.Errorf("Canonicalize(%q) = %q, %q, want %q, %q", tt.target, path, query, tt.wantPath, tt.wantQuery)
		}
	}
}

func TestCanonicalizeRejects(t *testing.T) {
	tests := []struct {
		target   string
		fragment string // quoted in the error
	}{
		{"", ""},
		{"v1/p1/cloudservers", "v1/p1/cloudservers"},
		{"http://ecs.example.invalid/v1/p1/cloudservers", "http://"},
		{"*", "*"},
		{"/v1/p1/./cloudservers", `"."`},
		{"/v1/p1/../p2/cloudservers", `".."`},
		{"/v1/p1/%2e/cloudservers", `"%2e"`},
		{"/v1/p1/%2E%2E/cloudservers", `"%2E%2E"`},
		{"/v1/p1/.%2e/cloudservers", `".%2e"`},
		{"/v1/p1/cloudservers/..", `".."`},
		{"/v1/p1%2fcloudservers", `"p1%2fcloudservers"`},
		{"/v1/p1%2Fcloudservers", `"p1%2Fcloudservers"`},
		{"/v1/p1%5ccloudservers", `"p1%5ccloudservers"`},
		{"/v1/p1%5Ccloudservers", `"p1%5Ccloudservers"`},
		{"/v1/p1\\cloudservers", `"\\"`},
		{"/v1/p1;a=b/cloudservers", `";"`},
		{"/v1/p1/cloudservers;jsessionid=1", `";"`},
		{"/v1//p1/cloudservers", "empty path segment"},
		{"//v1/p1", "empty path segment"},
		{"/v1/p1/s%00", `"s%00"`},
		{"/v1/p1/s%0a", `"s%0a"`},
		{"/v1/p1/s%zz", `"%zz"`},
		{"/v1/p1/s%", `"%"`},
		{"/v1/p1/s%4", `"%4"`},
		{"/v1/p1/%ff%fe", "not valid UTF-8"},
		{"/v1/p1/%c0%af", "not valid UTF-8"},
		{"/v1/p1/s 1", `" "`},
		{"/v1/p1/s\t1", `"\t"`},
		{"/v1/p1/s#frag", `"#"`},
		{"/v1/p1/\xe4\xb8\xad", `"\xe4"`},
		{"/v1/p1/s\x7f", `"\x7f"`},
	}
	for _, tt := range tests {
		path, query, err := Canonicalize(tt.target)
		if !errors.Is(err, ErrInvalidPath) {
			t.Errorf("Canonicalize(%q) = %q, %q, %v, want ErrInvalidPath", tt.target, path, query, err)
			continue
		}
		if !strings.Contains(err.Error(), tt.fragment) {
			t.Errorf("Canonicalize(%q) error %q does not quote %s", tt.target, err, tt.fragment)
		}
	}
}

func TestCanonicalizeIsStable(t *testing.T) {
	targets := []string{
		"/v1/p%31/a%2Db", "/v1/p1/%e4%b8%ad", "/v1/p1/a%252fb", "/v1/p1/a%3fb", "/v1/p1/a%20b", "/v1/p1/a[b]",
		"/v1/p1/cloudservers/",
	}
	for _, target := range targets {
		path, _, err := Canonicalize(target)
		if err != nil {
			t.Fatalf("Canonicalize(%q) error: %v", target, err)
		}
		again, query, err := Canonicalize(path)
		if err != nil {
			t.Errorf("Canonicalize(%q) error: %v", path, err)
			continue
		}
		if again != path || query != "" {
			t.Errorf("Canonicalize(%q) = %q, %q, want %q unchanged", path, again, query, path)
		}
	}
}

func TestCanonicalizeAllocations(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := Canonicalize("/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/cloudservers/detail?limit=25"); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("Canonicalize allocates %v times per call, want 0", allocs)
	}
}
