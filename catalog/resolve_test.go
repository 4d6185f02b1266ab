package catalog

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func mustLoad(t testing.TB) *Catalog {
	t.Helper()
	c, err := Load()
	if err != nil {
		t.Fatalf("Load() error: %v", err)
	}
	return c
}

func actionNames(actions []*Action) []string {
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = a.Name
	}
	return names
}

var (
	v21ListDependencies = []string{
		"ecs:serverVolumes:use", "ecs:diskConfigs:use", "ecs:securityGroups:use", "ecs:serverKeypairs:get",
		"vpc:securityGroups:get", "vpc:securityGroupRules:get", "vpc:networks:get", "vpc:subnets:get",
		"vpc:ports:get", "vpc:routers:get",
	}
	v21CreateActions = []string{
		"ecs:servers:create", "ecs:servers:get", "ecs:serverInterfaces:use", "ecs:serverInterfaces:get",
		"ecs:flavors:get", "ecs:securityGroups:use",
		"evs:volumes:list", "evs:volumes:get", "evs:volumes:create", "evs:volumes:attach", "evs:volumes:manage",
		"vpc:securityGroups:get",
		"vpc:networks:get", "vpc:networks:update", "vpc:subnets:get", "vpc:subnets:update", "vpc:ports:create",
		"vpc:ports:update", "vpc:ports:get", "vpc:ports:delete", "vpc:networks:create", "vpc:subnets:create",
		"vpc:routers:get", "vpc:routers:update",
		"ims:images:list", "ims:images:get",
	}
)

// TestResolveSeedRoutes covers every row of the lifecycle permission table:
// 11 APIs, 12 path templates.
func TestResolveSeedRoutes(t *testing.T) {
	c := mustLoad(t)
	const project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	tests := []struct {
		method, target, body string
		wantPath             string
		wantActions          []string
		wantEP               bool
		wantServerIDs        []string
	}{
		{"POST", "/v1/" + project + "/cloudservers", `{"server":{}}`, "/v1/{project_id}/cloudservers",
			[]string{"ecs:cloudServers:create"}, true, nil},
		{"POST", "/v1/" + project + "/cloudservers/delete", `{"servers":[{"id":"s-0001"}]}`, "/v1/{project_id}/cloudservers/delete",
			[]string{"ecs:cloudServers:delete"}, true, []string{"s-0001"}},
		{"GET", "/v1/" + project + "/cloudservers/detail", "", "/v1/{project_id}/cloudservers/detail",
			[]string{"ecs:cloudServers:list"}, true, nil},
		{"GET", "/v1/" + project + "/cloudservers/s-0001", "", "/v1/{project_id}/cloudservers/{server_id}",
			[]string{"ecs:cloudServers:get"}, true, []string{"s-0001"}},
		{"PUT", "/v1/" + project + "/cloudservers/s-0001", "", "/v1/{project_id}/cloudservers/{server_id}",
			[]string{"ecs:cloudServers:put"}, true, []string{"s-0001"}},
		{"GET", "/v2.1/" + project + "/servers/detail", "", "/v2.1/{project_id}/servers/detail",
			append([]string{"ecs:servers:list", "ecs:servers:get"}, v21ListDependencies...), false, nil},
		{"GET", "/v2.1/" + project + "/servers", "", "/v2.1/{project_id}/servers",
			[]string{"ecs:servers:list"}, false, nil},
		{"GET", "/v2.1/" + project + "/servers/s-0001", "", "/v2.1/{project_id}/servers/{server_id}",
			append([]string{"ecs:servers:get"}, v21ListDependencies...), false, []string{"s-0001"}},
		{"POST", "/v2.1/" + project + "/servers", `{"server":{}}`, "/v2.1/{project_id}/servers",
			v21CreateActions, false, nil},
		{"POST", "/v2.1/" + project + "/os-volumes_boot", `{"server":{}}`, "/v2.1/{project_id}/os-volumes_boot",
			v21CreateActions, false, nil},
		{"DELETE", "/v2.1/" + project + "/servers/s-0001", "", "/v2.1/{project_id}/servers/{server_id}",
			[]string{"ecs:servers:delete"}, false, []string{"s-0001"}},
		{"PUT", "/v2.1/" + project + "/servers/s-0001", "", "/v2.1/{project_id}/servers/{server_id}",
			[]string{"ecs:servers:update", "ecs:servers:get"}, false, []string{"s-0001"}},
	}
	for _, tt := range tests {
		var res Resolution
		err := c.Resolve(&Request{Method: tt.method, Target: tt.target, Body: []byte(tt.body)}, &res)
		if err != nil {
			t.Errorf("Resolve(%s %s) error: %v", tt.method, tt.target, err)
			continue
		}
		if res.Route.Path != tt.wantPath {
			t.Errorf("Resolve(%s %s) route = %s, want %s", tt.method, tt.target, res.Route.Path, tt.wantPath)
		}
		if got := actionNames(res.Actions); !slices.Equal(got, tt.wantActions) {
			t.Errorf("Resolve(%s %s) actions = %v, want %v", tt.method, tt.target, got, tt.wantActions)
		}
		if res.Route.EnterpriseProject != tt.wantEP {
			t.Errorf("Resolve(%s %s) EnterpriseProject = %v, want %v", tt.method, tt.target, res.Route.EnterpriseProject, tt.wantEP)
		}
		if res.ProjectID != project {
			t.Errorf("Resolve(%s %s) ProjectID = %q, want %q", tt.method, tt.target, res.ProjectID, project)
		}
		if !slices.Equal(res.ServerIDs, tt.wantServerIDs) {
			t.Errorf("Resolve(%s %s) ServerIDs = %q, want %q", tt.method, tt.target, res.ServerIDs, tt.wantServerIDs)
		}
	}
}

func TestResolveBodyRules(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		name, method, target, body string
		truncated                  bool
		wantActions                []string
		wantErr                    error
		wantServerIDs              []string
		wantEP                     string
	}{
		{name: "create without publicip", method: "POST", target: "/v1/p1/cloudservers",
			body:        `{"server":{"name":"a"}}`,
			wantActions: []string{"ecs:cloudServers:create"}, wantEP: "0"},
		{name: "create with new eip", method: "POST", target: "/v1/p1/cloudservers",
			body:        `{"server":{"publicip":{"eip":{"iptype":"5_bgp"}}}}`,
			wantActions: []string{"ecs:cloudServers:create", "vpc:publicIps:create"}, wantEP: "0"},
		{name: "create with existing eip", method: "POST", target: "/v1/p1/cloudservers",
			body:        `{"server":{"publicip":{"id":"eip-1"}}}`,
			wantActions: []string{"ecs:cloudServers:create", "vpc:publicIps:update"}, wantEP: "0"},
		{name: "create with eip and id", method: "POST", target: "/v1/p1/cloudservers",
			body:        `{"server":{"publicip":{"id":"eip-1","eip":{}}}}`,
			wantActions: []string{"ecs:cloudServers:create", "vpc:publicIps:create", "vpc:publicIps:update"}, wantEP: "0"},
		{name: "create with null eip", method: "POST", target: "/v1/p1/cloudservers",
			body:        `{"server":{"publicip":{"eip":null}}}`,
			wantActions: []string{"ecs:cloudServers:create", "vpc:publicIps:create"}, wantEP: "0"},
		{name: "create v1.1 with eip", method: "POST", target: "/v1.1/p1/cloudservers",
			body:        `{"server":{"publicip":{"eip":{}}}}`,
			wantActions: []string{"ecs:cloudServers:createServers", "vpc:publicIps:create"}, wantEP: "0"},
		{name: "create in enterprise project", method: "POST", target: "/v1/p1/cloudservers",
			body:        `{"server":{"extendparam":{"enterprise_project_id":"ep-dev-0001"}}}`,
			wantActions: []string{"ecs:cloudServers:create"}, wantEP: "ep-dev-0001"},
		{name: "create with numeric enterprise project", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"extendparam":{"enterprise_project_id":7}}}`, wantErr: ErrBodyInvalid},
		{name: "create with invalid json", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":`, wantErr: ErrBodyInvalid},
		{name: "create with trailing data", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{}} {"server":{"publicip":{"eip":{}}}}`, wantErr: ErrBodyInvalid},
		{name: "create with duplicate key", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"publicip":{"eip":{}}},"server":{}}`, wantErr: ErrBodyInvalid},
		{name: "create with case-folded duplicate key", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"name":"a"},"Server":{"publicip":{"eip":{"iptype":"5_bgp"}}}}`, wantErr: ErrBodyInvalid},
		{name: "create with upper-case server key", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"Server":{"publicip":{"eip":{"iptype":"5_bgp"}}}}`, wantErr: ErrBodyInvalid},
		{name: "create with upper-case eip key", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"publicip":{"EIP":{}}}}`, wantErr: ErrBodyInvalid},
		{name: "create with case-folded enterprise project", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"extendparam":{"enterprise_project_id":"ep-dev-0001","Enterprise_project_id":"0"}}}`, wantErr: ErrBodyInvalid},
		{name: "create with upper-case extendparam", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"Extendparam":{"enterprise_project_id":"ep-dev-0001"}}}`, wantErr: ErrBodyInvalid},
		{name: "create with array body", method: "POST", target: "/v1/p1/cloudservers",
			body: `[{"server":{}}]`, wantErr: ErrBodyInvalid},
		{name: "create truncated", method: "POST", target: "/v1/p1/cloudservers",
			body: `{"server":{"name":"a"}}`, truncated: true, wantErr: ErrBodyTruncated},
		{name: "create without body", method: "POST", target: "/v1/p1/cloudservers",
			wantErr: ErrBodyRequired},
		{name: "batch start", method: "POST", target: "/v1/p1/cloudservers/action",
			body:        `{"os-start":{"servers":[{"id":"s-0001"},{"id":"s-0002"}]}}`,
			wantActions: []string{"ecs:cloudServers:start"}, wantServerIDs: []string{"s-0001", "s-0002"}},
		{name: "batch reboot", method: "POST", target: "/v1/p1/cloudservers/action",
			body:        `{"reboot":{"type":"SOFT","servers":[{"id":"s-0001"}]}}`,
			wantActions: []string{"ecs:cloudServers:reboot"}, wantServerIDs: []string{"s-0001"}},
		{name: "batch unknown key", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"os-migrate":{"servers":[{"id":"s-0001"}]}}`, wantErr: ErrBodyRequired},
		{name: "batch missing key", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{}`, wantErr: ErrBodyRequired},
		{name: "batch two keys", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"os-start":{"servers":[{"id":"a"}]},"os-stop":{"servers":[{"id":"a"}]}}`, wantErr: ErrBodyInvalid},
		{name: "batch case-folded action keys", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"os-start":{},"OS-START":{}}`, wantErr: ErrBodyInvalid},
		{name: "batch upper-case action key", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"OS-START":{"servers":[{"id":"s-0001"}]}}`, wantErr: ErrBodyRequired},
		{name: "batch upper-case servers key", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"os-start":{"Servers":[{"id":"s-0001"}]}}`, wantErr: ErrBodyInvalid},
		{name: "batch without servers", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"os-stop":{"type":"HARD"}}`, wantErr: ErrBodyInvalid},
		{name: "batch with numeric id", method: "POST", target: "/v1/p1/cloudservers/action",
			body: `{"os-stop":{"servers":[{"id":1}]}}`, wantErr: ErrBodyInvalid},
		{name: "batch delete ids", method: "POST", target: "/v1/p1/cloudservers/delete",
			body:        `{"servers":[{"id":"s-0001"},{"id":"s-0003"}],"delete_publicip":true}`,
			wantActions: []string{"ecs:cloudServers:delete"}, wantServerIDs: []string{"s-0001", "s-0003"}},
		{name: "batch delete case-folded ids", method: "POST", target: "/v1/p1/cloudservers/delete",
			body: `{"servers":[{"id":"s-0001","ID":"s-0003"}]}`, wantErr: ErrBodyInvalid},
		{name: "batch delete upper-case id", method: "POST", target: "/v1/p1/cloudservers/delete",
			body: `{"servers":[{"id":"s-0001"},{"Id":"s-0003"}]}`, wantErr: ErrBodyInvalid},
		{name: "nova start", method: "POST", target: "/v2.1/p1/servers/s-0001/action",
			body:        `{"os-start":null}`,
			wantActions: []string{"ecs:servers:start", "ecs:servers:list"}, wantServerIDs: []string{"s-0001"}},
		{name: "nova add security group", method: "POST", target: "/v2.1/p1/servers/s-0001/action",
			body:          `{"addSecurityGroup":{"name":"sg-test"}}`,
			wantActions:   []string{"ecs:securityGroups:use", "ecs:servers:get", "ecs:servers:list", "ecs:serverVolumes:use", "ecs:diskConfigs:use", "ecs:serverKeypairs:get", "vpc:securityGroups:get", "vpc:securityGroups:create", "vpc:securityGroups:update", "vpc:securityGroupRules:get", "vpc:networks:get", "vpc:subnets:get", "vpc:routers:get", "vpc:ports:get", "vpc:ports:update"},
			wantServerIDs: []string{"s-0001"}},
		{name: "nova confirm resize", method: "POST", target: "/v2.1/p1/servers/s-0001/action",
			body: `{"confirmResize":null}`, wantErr: ErrBodyRequired},
		{name: "nova action not json", method: "POST", target: "/v2.1/p1/servers/s-0001/action",
			body: `os-start`, wantErr: ErrBodyInvalid},
		{name: "nova action truncated", method: "POST", target: "/v2.1/p1/servers/s-0001/action",
			body: `{"os-st`, truncated: true, wantErr: ErrBodyTruncated},
		{name: "server group add member", method: "POST", target: "/v1/p1/cloudservers/os-server-groups/g1/action",
			body:        `{"add_member":{"instance_uuid":"s-0002"}}`,
			wantActions: []string{"ecs:cloudServers:addServerGroupMember"}, wantServerIDs: []string{"s-0002"}},
		{name: "shared volume attach", method: "POST", target: "/v1/p1/batchaction/attachvolumes/v1",
			body:        `{"serverinfo":[{"server_id":"s-0001","device":"/dev/sdb"}]}`,
			wantActions: []string{"ecs:cloudServers:attachSharedVolume", "evs:volumes:use"}, wantServerIDs: []string{"s-0001"}},
		{name: "route without rule ignores body", method: "GET", target: "/v1/p1/cloudservers/s-0001",
			body: `not json`, truncated: true, wantActions: []string{"ecs:cloudServers:get"}, wantServerIDs: []string{"s-0001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var res Resolution
			req := &Request{Method: tt.method, Target: tt.target, Body: []byte(tt.body), BodyTruncated: tt.truncated}
			err := c.Resolve(req, &res)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Resolve() error = %v, want %v", err, tt.wantErr)
				}
				if res.Actions != nil {
					t.Errorf("Resolve() actions = %v after error, want nil", actionNames(res.Actions))
				}
				return
			}
			if err != nil {
				t.Fatalf("Resolve() error: %v", err)
			}
			if got := actionNames(res.Actions); !slices.Equal(got, tt.wantActions) {
				t.Errorf("Resolve() actions = %v, want %v", got, tt.wantActions)
			}
			if !slices.Equal(res.ServerIDs, tt.wantServerIDs) {
				t.Errorf("Resolve() ServerIDs = %q, want %q", res.ServerIDs, tt.wantServerIDs)
			}
			if res.EnterpriseProjectID != tt.wantEP {
				t.Errorf("Resolve() EnterpriseProjectID = %q, want %q", res.EnterpriseProjectID, tt.wantEP)
			}
		})
	}
}

func TestResolveListQuery(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		target      string
		wantEP      string
		wantAll     bool
		wantErr     error
		wantQueryIn string
	}{
		{target: "/v1/p1/cloudservers/detail", wantEP: ""},
		{target: "/v1/p1/cloudservers/detail?limit=25&enterprise_project_id=ep-dev-0001", wantEP: "ep-dev-0001"},
		{target: "/v1/p1/cloudservers/detail?enterprise_project_id=all_granted_eps", wantEP: "all_granted_eps", wantAll: true},
		{target: "/v1/p1/cloudservers/detail?enterprise%5Fproject%5Fid=ep%2D1", wantEP: "ep-1"},
		{target: "/v1/p1/cloudservers/detail?enterprise_project_id=a&enterprise_project_id=b", wantErr: ErrInvalidPath},
		{target: "/v1/p1/cloudservers/detail?enterprise_project_id=%zz", wantErr: ErrInvalidPath},
	}
	for _, tt := range tests {
		var res Resolution
		err := c.Resolve(&Request{Method: "GET", Target: tt.target}, &res)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Resolve(%s) error = %v, want %v", tt.target, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%s) error: %v", tt.target, err)
			continue
		}
		if res.EnterpriseProjectID != tt.wantEP {
			t.Errorf("Resolve(%s) EnterpriseProjectID = %q, want %q", tt.target, res.EnterpriseProjectID, tt.wantEP)
		}
		if res.AllGrantedEPs != tt.wantAll {
			t.Errorf("Resolve(%s) AllGrantedEPs = %v, want %v", tt.target, res.AllGrantedEPs, tt.wantAll)
		}
	}
}

func TestResolveMatching(t *testing.T) {
	c := mustLoad(t)
	tests := []struct {
		method, target string
		wantPath       string
		wantParams     []Param
		wantErr        error
	}{
		{"GET", "/v1/p1/cloudservers/detail", "/v1/{project_id}/cloudservers/detail",
			[]Param{{"project_id", "p1"}}, nil},
		{"GET", "/v1/p1/cloudservers/s%2D1", "/v1/{project_id}/cloudservers/{server_id}",
			[]Param{{"project_id", "p1"}, {"server_id", "s-1"}}, nil},
		{"GET", "/v1/p1/cloudservers/os-server-groups/tags", "/v1/{project_id}/cloudservers/os-server-groups/{server_group_id}",
			[]Param{{"project_id", "p1"}, {"server_group_id", "tags"}}, nil},
		{"GET", "/v2.1/p1/os-quota-sets/p2?user_id=u1", "/v2.1/{project_id}/os-quota-sets/{target_project_id}",
			[]Param{{"project_id", "p1"}, {"target_project_id", "p2"}}, nil},
		{"GET", "/v1/p1/cloudservers/%64etail", "/v1/{project_id}/cloudservers/detail",
			[]Param{{"project_id", "p1"}}, nil},
		// A literal of a node is never a parameter value there.
		{"GET", "/v1/p1/cloudservers/detail/tags", "", nil, ErrUnknownRoute},
		{"GET", "/v1/p1/cloudservers/", "", nil, ErrUnknownRoute},
		{"GET", "/v1/p1/cloudservers/detail/", "", nil, ErrUnknownRoute},
		{"get", "/v1/p1/cloudservers/detail", "", nil, ErrUnknownRoute},
		{"PATCH", "/v1/p1/cloudservers/detail", "", nil, ErrUnknownRoute},
		{"GET", "/v1/p1/cloudservers/s1%3Ftags", "/v1/{project_id}/cloudservers/{server_id}",
			[]Param{{"project_id", "p1"}, {"server_id", "s1?tags"}}, nil},
		{"GET", "/v3/p1/cloudservers", "", nil, ErrUnknownRoute},
		{"GET", "/v1/p1/cloudservers//detail", "", nil, ErrInvalidPath},
	}
	for _, tt := range tests {
		var res Resolution
		err := c.Resolve(&Request{Method: tt.method, Target: tt.target}, &res)
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Resolve(%s %s) error = %v, want %v", tt.method, tt.target, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("Resolve(%s %s) error: %v", tt.method, tt.target, err)
			continue
		}
		if res.Route.Path != tt.wantPath {
			t.Errorf("Resolve(%s %s) route = %s, want %s", tt.method, tt.target, res.Route.Path, tt.wantPath)
		}
		if !slices.Equal(res.Params(), tt.wantParams) {
			t.Errorf("Resolve(%s %s) params = %v, want %v", tt.method, tt.target, res.Params(), tt.wantParams)
		}
	}
}

func TestResolveReusesResolution(t *testing.T) {
	c := mustLoad(t)
	var res Resolution
	if err := c.Resolve(&Request{Method: "GET", Target: "/v1/p1/cloudservers/detail?enterprise_project_id=all_granted_eps"}, &res); err != nil {
		t.Fatal(err)
	}
	if err := c.Resolve(&Request{Method: "GET", Target: "/v2.1/p1/servers/s1"}, &res); err != nil {
		t.Fatal(err)
	}
	if res.AllGrantedEPs || res.EnterpriseProjectID != "" || res.Query != "" {
		t.Errorf("second Resolve kept values of the first: %+v", res)
	}
	if got := res.Param("server_id"); got != "s1" {
		t.Errorf("Param(server_id) = %q, want s1", got)
	}
	if got := res.Param("missing"); got != "" {
		t.Errorf("Param(missing) = %q, want empty", got)
	}
}

func TestResolveAllocations(t *testing.T) {
	c := mustLoad(t)
	targets := []struct{ method, target string }{
		{"GET", "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/cloudservers/s-0001"},
		{"GET", "/v2.1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/servers/detail?limit=10"},
		{"DELETE", "/v2.1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/servers/s-0001/tags/team"},
	}
	for _, tt := range targets {
		var res Resolution
		req := &Request{Method: tt.method, Target: tt.target}
		allocs := testing.AllocsPerRun(100, func() {
			if err := c.Resolve(req, &res); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("Resolve(%s %s) allocates %v times per call, want 0", tt.method, tt.target, allocs)
		}
	}
}

func TestErrorsQuoteFragment(t *testing.T) {
	c := mustLoad(t)
	var res Resolution
	err := c.Resolve(&Request{Method: "GET", Target: "/v1/p1/cloudservers/%2e%2E"}, &res)
	if err == nil || !strings.Contains(err.Error(), `"%2e%2E"`) {
		t.Errorf("Resolve() error = %v, want it to quote %q", err, "%2e%2E")
	}
}

func TestResolveBodyNesting(t *testing.T) {
	c := mustLoad(t)
	nested := func(levels int) []byte {
		// The top-level object is the first level.
		inner := strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1)
		return []byte(`{"server":{"name":"a"},"x":` + inner + `}`)
	}
	var res Resolution
	if err := c.Resolve(&Request{Method: "POST", Target: "/v1/p1/cloudservers", Body: nested(maxBodyDepth)}, &res); err != nil {
		t.Errorf("Resolve() with %d levels error: %v", maxBodyDepth, err)
	}
	err := c.Resolve(&Request{Method: "POST", Target: "/v1/p1/cloudservers", Body: nested(maxBodyDepth + 1)}, &res)
	if !errors.Is(err, ErrBodyInvalid) {
		t.Errorf("Resolve() with %d levels error = %v, want ErrBodyInvalid", maxBodyDepth+1, err)
	}
}

func TestResolveEmptyEnterpriseProject(t *testing.T) {
	c := mustLoad(t)
	var res Resolution
	body := []byte(`{"server":{"extendparam":{"enterprise_project_id":""}}}`)
	if err := c.Resolve(&Request{Method: "POST", Target: "/v1/p1/cloudservers", Body: body}, &res); err != nil {
		t.Fatal(err)
	}
	if res.EnterpriseProjectID != "0" {
		t.Errorf("EnterpriseProjectID = %q, want \"0\"", res.EnterpriseProjectID)
	}
}
