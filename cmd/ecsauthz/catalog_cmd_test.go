package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runCatalogArgs(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runCatalog(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestCatalogListJSON(t *testing.T) {
	code, stdout, stderr := runCatalogArgs(t, "list", "--format", "json")
	if code != 0 {
		t.Fatalf("exit code = %d, stderr: %s", code, stderr)
	}
	var routes []routeJSON
	if err := json.Unmarshal([]byte(stdout), &routes); err != nil {
		t.Fatalf("output is not JSON: %v", err)
	}
	if len(routes) < 100 {
		t.Errorf("listed %d routes, want at least 100", len(routes))
	}
	first := routes[0]
	if first.Method != "POST" || first.Path != "/v1/{project_id}/cloudservers" {
		t.Fatalf("first route = %s %s, want POST /v1/{project_id}/cloudservers", first.Method, first.Path)
	}
	if len(first.Actions) != 1 || first.Actions[0].Name != "ecs:cloudServers:create" || first.Actions[0].Aliases[0] != "ecs:cloudServers:createServers" {
		t.Errorf("first route actions = %+v", first.Actions)
	}
	if first.Body == nil || first.Body.Present["server.publicip.eip"][0].Name != "vpc:publicIps:create" {
		t.Errorf("first route body = %+v, want the publicip presence rule", first.Body)
	}
	if !first.EnterpriseProject || first.Instance || !first.Tag {
		t.Errorf("first route flags EP=%v INST=%v TAG=%v, want true false true", first.EnterpriseProject, first.Instance, first.Tag)
	}
}

func TestCatalogListTable(t *testing.T) {
	code, stdout, stderr := runCatalogArgs(t, "list")
	if code != 0 {
		t.Fatalf("exit code = %d, stderr: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	if !strings.HasPrefix(lines[0], "METHOD") {
		t.Errorf("header = %q", lines[0])
	}
	if !strings.Contains(stdout, "ecs:cloudServers:get=ecs:cloudServers:showServer") {
		t.Error("table does not show the alias of ecs:cloudServers:get")
	}
	if !strings.Contains(stdout, "os-start:ecs:cloudServers:start") {
		t.Error("table does not show the keyed body rule of the batch action route")
	}

	// Wrapped cells keep each row near the width of its own cells. The
	// longest path is about 90 bytes and the three wrapped columns take at
	// most maxCellWidth each.
	const maxLine = 8 + 100 + 3*(maxCellWidth+2) + 16
	for i, line := range lines {
		if len(line) > maxLine {
			t.Errorf("line %d is %d bytes, want at most %d: %.80s...", i+1, len(line), maxLine, line)
		}
	}
}

func TestWrapCell(t *testing.T) {
	long := strings.Repeat("x", maxCellWidth+5)
	tests := []struct {
		text string
		want []string
	}{
		{"", []string{"-"}},
		{"a,b", []string{"a,b"}},
		{"a b", []string{"a b"}},
		{long, []string{long}},
		{"a," + long + ",b", []string{"a,", long + ",", "b"}},
		{"k:" + strings.Repeat("ecs:cloudServers:list,", 4) + "x ids=servers[].id", []string{
			"k:ecs:cloudServers:list,ecs:cloudServers:list,",
			"ecs:cloudServers:list,ecs:cloudServers:list,x",
			"ids=servers[].id",
		}},
		{"ep=a ids=b", []string{"ep=a ids=b"}},
	}
	for _, tt := range tests {
		got := wrapCell(tt.text)
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("wrapCell(%q) = %q, want %q", tt.text, got, tt.want)
		}
		for _, line := range got {
			if len(line) > maxCellWidth && !strings.Contains(line, long) {
				t.Errorf("wrapCell(%q) line %q is longer than %d", tt.text, line, maxCellWidth)
			}
		}
	}
}

func TestCatalogImportAndLint(t *testing.T) {
	table := filepath.Join("..", "..", "catalog", "testdata", "lifecycle-permissions.zh-CN.md")
	code, stdout, stderr := runCatalogArgs(t, "import", table)
	if code != 0 {
		t.Fatalf("import exit code = %d, stderr: %s", code, stderr)
	}
	golden, err := os.ReadFile(filepath.Join("..", "..", "catalog", "testdata", "lifecycle-import.golden.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if stdout != string(golden) {
		t.Error("import output differs from catalog/testdata/lifecycle-import.golden.yaml")
	}

	// The import leaves description_en empty, so lint rejects it and names
	// the file and line.
	imported := filepath.Join(t.TempDir(), "imported.yaml")
	if err := os.WriteFile(imported, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCatalogArgs(t, "lint", imported)
	if code != 1 || !strings.Contains(stdout, imported+":4: route \"POST /v1/{project_id}/cloudservers\": description_en: missing") {
		t.Errorf("lint of the raw import: exit code %d, output %q", code, stdout)
	}

	// Filling in the English descriptions makes it valid.
	fixed := strings.ReplaceAll(string(golden), `description_en: ""`, `description_en: "translated"`)
	if err := os.WriteFile(imported, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ = runCatalogArgs(t, "lint", imported)
	if code != 0 || !strings.Contains(stdout, "ok: 12 routes") {
		t.Errorf("lint of the completed import: exit code %d, output %q", code, stdout)
	}
}

func TestCatalogUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{nil, "Usage:"},
		{[]string{"frobnicate"}, `unknown subcommand "frobnicate"`},
		{[]string{"import"}, "name exactly one table file"},
		{[]string{"lint"}, "name at least one catalog file"},
		{[]string{"list", "--format", "xml"}, `invalid --format "xml"`},
	}
	for _, tt := range tests {
		code, _, stderr := runCatalogArgs(t, tt.args...)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("runCatalog(%q) = %d, stderr %q, want 2 and %q", tt.args, code, stderr, tt.want)
		}
	}
	code, _, stderr := runCatalogArgs(t, "import", filepath.Join(t.TempDir(), "missing.md"))
	if code != 1 || !strings.Contains(stderr, "no such file") {
		t.Errorf("import of a missing file = %d, stderr %q", code, stderr)
	}
}

func TestCatalogLintBuiltinNotesOverlaps(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "catalog", "data", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no built-in catalog files found: %v", err)
	}
	code, stdout, stderr := runCatalogArgs(t, append([]string{"lint"}, files...)...)
	if code != 0 {
		t.Fatalf("lint exit code = %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	want := "note: GET /v1/{project_id}/cloudservers/os-server-groups/{server_group_id} (" + files[1] + ":"
	if !strings.Contains(stdout, want) || !strings.Contains(stdout, "both fit /v1/x/cloudservers/os-server-groups/tags, which resolves to "+files[1]+":") {
		t.Errorf("lint output does not note the server-group and server-tags overlap:\n%s", stdout)
	}
	if !strings.Contains(stdout, "ok: 118 routes") {
		t.Errorf("lint output = %q, want the route count", stdout)
	}
}
