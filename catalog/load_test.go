package catalog

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

func loadYAML(t *testing.T, files map[string]string, order ...string) (*Catalog, error) {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return LoadFS(fsys, order...)
}

const detailRouteYAML = `routes:
  - method: GET
    path: /v1/{project_id}/cloudservers/detail
    description_zh: 列表
    description_en: List
    actions: [ecs:cloudServers:list]
`

const showRouteYAML = `routes:
  - method: GET
    path: /v1/{project_id}/cloudservers/{server_id}
    description_zh: 详情
    description_en: Show
    actions: [ecs:cloudServers:get]
    resource_param: server_id
`

func TestLiteralBeatsParameterInBothOrders(t *testing.T) {
	files := map[string]string{"detail.yaml": detailRouteYAML, "show.yaml": showRouteYAML}
	for _, order := range [][]string{{"detail.yaml", "show.yaml"}, {"show.yaml", "detail.yaml"}} {
		c, err := loadYAML(t, files, order...)
		if err != nil {
			t.Fatalf("LoadFS(%v) error: %v", order, err)
		}
		tests := []struct{ target, wantPath, wantAction string }{
			{"/v1/p1/cloudservers/detail", "/v1/{project_id}/cloudservers/detail", "ecs:cloudServers:list"},
			{"/v1/p1/cloudservers/s-0001", "/v1/{project_id}/cloudservers/{server_id}", "ecs:cloudServers:get"},
			{"/v1/p1/cloudservers/detai", "/v1/{project_id}/cloudservers/{server_id}", "ecs:cloudServers:get"},
		}
		for _, tt := range tests {
			var res Resolution
			if err := c.Resolve(&Request{Method: "GET", Target: tt.target}, &res); err != nil {
				t.Errorf("order %v: Resolve(%s) error: %v", order, tt.target, err)
				continue
			}
			if res.Route.Path != tt.wantPath || res.Actions[0].Name != tt.wantAction {
				t.Errorf("order %v: Resolve(%s) = %s %v, want %s %s", order, tt.target, res.Route.Path, actionNames(res.Actions), tt.wantPath, tt.wantAction)
			}
		}
	}
}

func TestLoadFSErrors(t *testing.T) {
	const header = "routes:\n"
	route := func(fields string) string {
		return header + "  - method: GET\n    path: /v1/{project_id}/x\n    description_zh: 中\n    description_en: en\n" + fields
	}
	tests := []struct {
		name  string
		files map[string]string
		want  string // substring of the error
	}{
		{"unknown top-level field", map[string]string{"a.yaml": "route: []\n"}, `unknown field "route"`},
		{"unknown route field", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    flags: 1\n")}, `unknown field "flags"`},
		{"unknown body field", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    body:\n      present_fields: []\n")}, `unknown field "present_fields"`},
		{"bad method", map[string]string{"a.yaml": header + "  - method: get\n    path: /v1/{project_id}\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, `a.yaml:2: route "get /v1/{project_id}": method: "get" is not one of`},
		{"missing actions", map[string]string{"a.yaml": route("")}, `a.yaml:2: route "GET /v1/{project_id}/x": actions: missing`},
		{"bad action", map[string]string{"a.yaml": route("    actions: [ecs:a]\n")}, `actions[0]: action "ecs:a" must have the form`},
		{"upper-case service", map[string]string{"a.yaml": route("    actions: [ECS:a:b]\n")}, `service "ECS" must be lower case`},
		{"wildcard action", map[string]string{"a.yaml": route("    actions: [ecs:a:*]\n")}, `contains '*'`},
		{"duplicate action", map[string]string{"a.yaml": route("    actions: [ecs:a:b, ecs:a:b]\n")}, `actions[1]: action "ecs:a:b" is listed twice`},
		{"missing description", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{project_id}\n    description_en: b\n    actions: [ecs:a:b]\n"}, "description_zh: missing"},
		{"missing project param", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{id}\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, `project_param: "project_id" is not a parameter of the path`},
		{"unknown resource param", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    resource_param: server_id\n")}, `resource_param: "server_id" is not a parameter of the path`},
		{"instance without server", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    instance: true\n")}, "instance: a route with instance authorization needs"},
		{"duplicate param", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{project_id}/{project_id}\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, `parameter "project_id" appears twice`},
		{"partial param", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{project_id}/x{id}\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, `literal segment "x{id}" contains '{'`},
		{"query in template", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{project_id}/x?a=1\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, `contains '?'`},
		{"trailing slash template", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{project_id}/\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, "has an empty segment"},
		{"dot template", map[string]string{"a.yaml": header + "  - method: GET\n    path: /v1/{project_id}/..\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n"}, `literal segment ".." is a dot segment`},
		{"body present and keys", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    body:\n      present:\n        - field: a\n          actions: [ecs:a:c]\n      keys:\n        - key: k\n          actions: [ecs:a:d]\n")}, "body: present and keys cannot both be set"},
		{"body bad field", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    body:\n      present:\n        - field: a..b\n          actions: [ecs:a:c]\n")}, `body: present[0].field: field path "a..b"`},
		{"body duplicate key", map[string]string{"a.yaml": route("    body:\n      keys:\n        - key: k\n          actions: [ecs:a:d]\n        - key: k\n          actions: [ecs:a:e]\n")}, `body: keys[1].key: "k" is listed twice`},
		{"body empty", map[string]string{"a.yaml": route("    actions: [ecs:a:b]\n    body: {}\n")}, "body: the rule is empty"},
		{"alias of unused action", map[string]string{"a.yaml": "aliases:\n  ecs:a:z: [ecs:a:y]\n" + route("    actions: [ecs:a:b]\n")}, `a.yaml: aliases["ecs:a:z"]: no route requires this action`},
		{"alias of itself", map[string]string{"a.yaml": "aliases:\n  ecs:a:b: [ecs:a:b]\n" + route("    actions: [ecs:a:b]\n")}, "cannot be its own alias"},
		{"alias declared twice", map[string]string{
			"a.yaml": "aliases:\n  ecs:a:b: [ecs:a:c]\n" + route("    actions: [ecs:a:b]\n"),
			"b.yaml": "aliases:\n  ecs:a:b: [ecs:a:d]\n",
		}, `b.yaml: aliases["ecs:a:b"]: aliases of "ecs:a:b" are already declared in a.yaml`},
		{"duplicate route", map[string]string{
			"a.yaml": route("    actions: [ecs:a:b]\n"),
			"b.yaml": "\n\n" + header + "  - method: GET\n    path: /v1/{project_id}/{name}\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:b]\n  - method: GET\n    path: /v1/{p}/x\n    project_param: p\n    description_zh: a\n    description_en: b\n    actions: [ecs:a:c]\n",
		}, `b.yaml:9: routes "GET /v1/{project_id}/x" (a.yaml:2) and "GET /v1/{p}/x" (b.yaml:9) match the same requests`},
		{"no routes", map[string]string{"a.yaml": "aliases: {}\n"}, "the catalog has no routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			names := make([]string, 0, len(tt.files))
			for name := range tt.files {
				names = append(names, name)
			}
			sort.Strings(names)
			_, err := loadYAML(t, tt.files, names...)
			if err == nil {
				t.Fatalf("LoadFS() succeeded, want error containing %q", tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadFS() error = %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestLoadFSWithoutPathsReadsAllYAML(t *testing.T) {
	c, err := loadYAML(t, map[string]string{"detail.yaml": detailRouteYAML, "show.yaml": showRouteYAML, "notes.txt": "x"})
	if err != nil {
		t.Fatalf("LoadFS() error: %v", err)
	}
	if got := len(c.Routes()); got != 2 {
		t.Errorf("len(Routes()) = %d, want 2", got)
	}
	if _, err := loadYAML(t, map[string]string{"notes.txt": "x"}); err == nil {
		t.Error("LoadFS() of a folder without YAML succeeded, want error")
	}
}

func TestBuiltinCatalogActions(t *testing.T) {
	c := mustLoad(t)
	for i, a := range c.Actions() {
		if a.ID != i {
			t.Fatalf("Actions()[%d].ID = %d", i, a.ID)
		}
		if got := c.LookupAction(a.Name); got != a {
			t.Errorf("LookupAction(%q) = %v, want action %d", a.Name, got, i)
		}
	}

	// Actions that only body rules add are listed too.
	for _, name := range []string{"vpc:publicIps:create", "vpc:publicIps:update", "ecs:cloudServers:start", "ecs:servers:createImage"} {
		if c.LookupAction(name) == nil {
			t.Errorf("LookupAction(%q) = nil, want an action", name)
		}
	}

	tests := []struct {
		name        string
		wantName    string
		wantAliases []string
	}{
		{"ecs:cloudServers:create", "ecs:cloudServers:create", []string{"ecs:cloudServers:createServers"}},
		{"ecs:cloudServers:delete", "ecs:cloudServers:delete", []string{"ecs:cloudServers:deleteServers"}},
		{"ecs:cloudServers:showServer", "ecs:cloudServers:get", []string{"ecs:cloudServers:showServer"}},
		{"ecs:cloudServers:updateServer", "ecs:cloudServers:put", []string{"ecs:cloudServers:updateServer"}},
		{"ecs:cloudServers:showServerTags", "ecs:cloudServers:showServerTags", []string{"ecs:cloudServers:get"}},
		{"ecs:cloudServers:list", "ecs:cloudServers:list", nil},
	}
	for _, tt := range tests {
		a := c.LookupAction(tt.name)
		if a == nil {
			t.Errorf("LookupAction(%q) = nil", tt.name)
			continue
		}
		if a.Name != tt.wantName || !slices.Equal(a.Aliases, tt.wantAliases) {
			t.Errorf("LookupAction(%q) = %s %v, want %s %v", tt.name, a.Name, a.Aliases, tt.wantName, tt.wantAliases)
		}
	}
	if a := c.LookupAction("ecs:cloudServers:nonexistent"); a != nil {
		t.Errorf("LookupAction(unknown) = %v, want nil", a)
	}

	// One old name is the alias of several new names.
	var named []string
	for _, a := range c.LookupActions("ecs:cloudServers:get") {
		named = append(named, a.Name)
	}
	for _, want := range []string{"ecs:cloudServers:get", "ecs:cloudServers:listServerInterfaces", "ecs:cloudServers:showServerTags", "ecs:cloudServers:showServerPassword"} {
		if !slices.Contains(named, want) {
			t.Errorf("LookupActions(ecs:cloudServers:get) = %v, want it to contain %s", named, want)
		}
	}
}

func TestBuiltinCatalogRoutes(t *testing.T) {
	c := mustLoad(t)
	if got := len(c.Routes()); got < 110 {
		t.Errorf("len(Routes()) = %d, want at least 110", got)
	}
	for _, r := range c.Routes() {
		if strings.HasPrefix(r.Path, "/v2.1/") && r.EnterpriseProject {
			t.Errorf("route %s %s supports enterprise projects, but no /v2.1 API does", r.Method, r.Path)
		}
		if r.File == "" || r.Line == 0 {
			t.Errorf("route %s %s has no declaration position", r.Method, r.Path)
		}
	}

	// The two documented path typos are fixed.
	var res Resolution
	for _, target := range []string{"/v1/p1/cloudservers/os-server-groups", "/v1/p1/cloudservers/s1/block_device/v1"} {
		method := "GET"
		if strings.HasSuffix(target, "os-server-groups") {
			method = "POST"
		}
		if err := c.Resolve(&Request{Method: method, Target: target}, &res); err != nil {
			t.Errorf("Resolve(%s %s) error: %v", method, target, err)
		}
	}
}

// printTree writes the tree in a stable order, one node per line.
func printTree(b *strings.Builder, n *node, indent string) {
	for _, l := range n.leaves {
		fmt.Fprintf(b, "%s%s %s\n", indent, l.method, l.route.route.Path)
	}
	keys := make([]string, 0, len(n.literals))
	for k := range n.literals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s/%s\n", indent, k)
		printTree(b, n.literals[k], indent+"  ")
	}
	if n.param != nil {
		fmt.Fprintf(b, "%s/{}\n", indent)
		printTree(b, n.param, indent+"  ")
	}
}

func TestCompiledTree(t *testing.T) {
	extra := `routes:
  - method: PUT
    path: /v1/{project_id}/cloudservers/{server_id}
    description_zh: 修改
    description_en: Update
    actions: [ecs:cloudServers:put]
    resource_param: server_id
`
	c, err := loadYAML(t, map[string]string{"a.yaml": showRouteYAML, "b.yaml": detailRouteYAML, "c.yaml": extra}, "a.yaml", "b.yaml", "c.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	printTree(&b, &c.root, "")
	want := `/v1
  /{}
    /cloudservers
      /detail
        GET /v1/{project_id}/cloudservers/detail
      /{}
        GET /v1/{project_id}/cloudservers/{server_id}
        PUT /v1/{project_id}/cloudservers/{server_id}
`
	if got := b.String(); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
}

func TestLoadErrorIsNotSentinel(t *testing.T) {
	_, err := loadYAML(t, map[string]string{"a.yaml": "routes: [\n"})
	if err == nil || errors.Is(err, ErrUnknownRoute) {
		t.Errorf("LoadFS(malformed YAML) error = %v, want a load error", err)
	}
}

func TestOverlapsOfBuiltinCatalog(t *testing.T) {
	c := mustLoad(t)
	overlapsFound := c.Overlaps()
	if len(overlapsFound) == 0 {
		t.Fatal("Overlaps() = none, want the server-group and per-server pairs")
	}
	for _, o := range overlapsFound {
		if o.Winner == nil {
			t.Errorf("%s %s and %s: example %s resolves to no route", o.First.Method, o.First.Path, o.Second.Path, o.Example)
			continue
		}
		if o.Winner != o.First && o.Winner != o.Second {
			t.Errorf("%s %s and %s: example %s resolves to a third route %s", o.First.Method, o.First.Path, o.Second.Path, o.Example, o.Winner.Path)
		}
	}
}

func TestCompareTemplates(t *testing.T) {
	parse := func(s string) []segment {
		segments, err := parseTemplate(s)
		if err != nil {
			t.Fatal(err)
		}
		return segments
	}
	tests := []struct {
		a, b string
		want relationship
	}{
		{"/a/{x}", "/a/{y}", equivalent},
		{"/a/b", "/a/{x}", moreSpecific},
		{"/a/{x}", "/a/b", moreGeneral},
		{"/a/b", "/a/c", disjoint},
		{"/a/b", "/a/b/c", disjoint},
		{"/a/{x}/c", "/a/b/{y}", overlaps},
	}
	for _, tt := range tests {
		if got := compareTemplates(parse(tt.a), parse(tt.b)); got != tt.want {
			t.Errorf("compareTemplates(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
