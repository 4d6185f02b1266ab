package mix

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.json", `{"attributes":{"request":{"http":{"method":"GET","path":"/v1/p/cloudservers/detail"}}}}`)
	write("sub/a.json", `{"attributes":{"request":{"http":{"method":"PUT","path":"/v1/p/cloudservers/s-1"}}}}`)
	write("notes.txt", "not a request")
	write("expected.json", `{"allowed": true}`)
	write("no-http.json", `{"attributes":{}}`)

	if _, _, err := Load(dir, false); err == nil || !strings.Contains(err.Error(), "invalid CheckRequest") {
		t.Errorf("Load(strict) error = %v, want an invalid CheckRequest error", err)
	}

	requests, skipped, err := Load(dir, true)
	if err != nil {
		t.Fatalf("Load(skipInvalid) error = %v", err)
	}
	var names []string
	for _, r := range requests {
		names = append(names, r.Name)
		if len(r.Wire) == 0 {
			t.Errorf("%s: Wire is empty", r.Name)
		}
	}
	if got, want := strings.Join(names, ","), "b.json,sub/a.json"; got != want {
		t.Errorf("loaded %s, want %s", got, want)
	}
	if got, want := strings.Join(skipped, ","), "expected.json,no-http.json"; got != want {
		t.Errorf("skipped %s, want %s", got, want)
	}

	if _, _, err := Load(t.TempDir(), false); err == nil || !strings.Contains(err.Error(), "no CheckRequest files") {
		t.Errorf("Load(empty dir) error = %v, want a no-files error", err)
	}
}
