package catalog

import (
	"flag"
	"os"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// TestImportReproducesLifecycleRoutes imports a copy of the lifecycle
// permission table and compares every field the table carries with the
// shipped routes in data/10-lifecycle.yaml.
func TestImportReproducesLifecycleRoutes(t *testing.T) {
	table, err := os.Open("testdata/lifecycle-permissions.zh-CN.md")
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()
	out, err := Import(table)
	if err != nil {
		t.Fatalf("Import() error: %v", err)
	}

	imported, _, err := decodeFile("imported.yaml", out)
	if err != nil {
		t.Fatalf("Import() output does not decode: %v\n%s", err, out)
	}
	shippedData, err := builtinData.ReadFile("data/10-lifecycle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	shipped, _, err := decodeFile("10-lifecycle.yaml", shippedData)
	if err != nil {
		t.Fatal(err)
	}

	if len(imported.Routes) != 12 || len(imported.Routes) != len(shipped.Routes) {
		t.Fatalf("imported %d routes, shipped %d, want 12 each", len(imported.Routes), len(shipped.Routes))
	}
	for i, got := range imported.Routes {
		want := shipped.Routes[i]
		name := want.Method + " " + want.Path
		if got.Method != want.Method || got.Path != want.Path {
			t.Errorf("route %d = %s %s, want %s", i, got.Method, got.Path, name)
		}
		if got.DescriptionZH != want.DescriptionZH {
			t.Errorf("%s: description_zh = %q, want %q", name, got.DescriptionZH, want.DescriptionZH)
		}
		if !slices.Equal(got.Actions, want.Actions) {
			t.Errorf("%s: actions = %v, want %v", name, got.Actions, want.Actions)
		}
		if got.EnterpriseProject != want.EnterpriseProject {
			t.Errorf("%s: enterprise_project = %v, want %v", name, got.EnterpriseProject, want.EnterpriseProject)
		}
		if got.ResourceParam != want.ResourceParam {
			t.Errorf("%s: resource_param = %q, want %q", name, got.ResourceParam, want.ResourceParam)
		}
	}

	// The alternative action sets of the create row appear as a comment
	// naming the actions that the shipped body rule adds.
	for _, p := range shipped.Routes[0].Body.Present {
		for _, a := range p.Actions {
			if !strings.Contains(string(out), ": "+a+"\n") {
				t.Errorf("Import() output does not name body-rule action %s:\n%s", a, out)
			}
		}
	}

	golden := "testdata/lifecycle-import.golden.yaml"
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != string(want) {
		t.Errorf("Import() output differs from %s; run go test -run TestImport -update to review", golden)
	}
}

func TestImportErrors(t *testing.T) {
	row := func(api, actions, scope string) string {
		return "<table><tbody><tr><td><p>" + api + "</p></td><td><p>描述</p></td><td>" + actions + "</td><td>" + scope + "</td></tr></tbody></table>"
	}
	tests := []struct {
		name, input, want string
	}{
		{"no table", "# 标题\n\nno table here\n", "no <tbody> found"},
		{"three cells", "<table><tbody><tr><td>a</td><td>b</td><td>c</td></tr></tbody></table>", "table row 1: found 3 cells, want 4"},
		{"bad API", row("FETCH /v1/{project_id}/x", "<ul><li>ecs:a:b</li></ul>", ""), `API "FETCH /v1/{project_id}/x" does not have the form`},
		{"bad template", row("GET /v1/{project_id}//x", "<ul><li>ecs:a:b</li></ul>", ""), "has an empty segment"},
		{"bad action", row("GET /v1/{project_id}/x", "<ul><li>not an action</li></ul>", ""), `action "not an action" must have the form`},
		{"no actions", row("GET /v1/{project_id}/x", "", ""), "lists no action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Import(strings.NewReader(tt.input))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Import() error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestImportScope(t *testing.T) {
	input := `<table><tbody>
<tr><td><p>GET /v1/{project_id}/a</p></td><td><p>甲</p></td><td><ul><li>ecs:a:get</li></ul></td>
<td><ul><li>支持：</li></ul><p>项目(Project)</p><p>企业项目(Enterprise Project)</p></td></tr>
<tr><td><p>GET /v2.1/{project_id}/b</p></td><td><p>乙</p></td><td><ul><li>ecs:b:get</li></ul></td>
<td><ul><li>支持：</li></ul><p>项目(Project)</p><ul><li>不支持：</li></ul><p>企业项目(Enterprise Project)</p></td></tr>
</tbody></table>`
	out, err := Import(strings.NewReader(input))
	if err != nil {
		t.Fatal(err)
	}
	spec, _, err := decodeFile("out.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if !spec.Routes[0].EnterpriseProject || spec.Routes[1].EnterpriseProject {
		t.Errorf("enterprise_project = %v, %v, want true, false", spec.Routes[0].EnterpriseProject, spec.Routes[1].EnterpriseProject)
	}
}
