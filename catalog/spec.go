package catalog

import (
	"fmt"
	"slices"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// fileSpec is the YAML form of one catalog file:
//
//	aliases:                      # optional: other names of an action
//	  ecs:cloudServers:create: [ecs:cloudServers:createServers]
//	routes:
//	  - method: POST              # GET, POST, PUT, DELETE, PATCH or HEAD
//	    path: /v1/{project_id}/cloudservers
//	    description_zh: 创建云服务器
//	    description_en: Create servers
//	    actions: [ecs:cloudServers:create]
//	    enterprise_project: true  # supports enterprise-project scope
//	    instance: false           # supports resource-level instance URNs
//	    tag: true                 # supports tag conditions
//	    project_param: project_id # default "project_id"
//	    resource_param: ""        # path parameter naming the resource
//	    enterprise_project_query: enterprise_project_id
//	    body: {...}               # see bodySpec
//
// Unknown fields are an error at every level.
type fileSpec struct {
	Aliases map[string][]string `yaml:"aliases"`
	Routes  []routeSpec         `yaml:"routes"`
}

type routeSpec struct {
	Method                 string    `yaml:"method"`
	Path                   string    `yaml:"path"`
	DescriptionZH          string    `yaml:"description_zh"`
	DescriptionEN          string    `yaml:"description_en"`
	Actions                []string  `yaml:"actions"`
	EnterpriseProject      bool      `yaml:"enterprise_project"`
	Instance               bool      `yaml:"instance"`
	Tag                    bool      `yaml:"tag"`
	ProjectParam           string    `yaml:"project_param"`
	ResourceParam          string    `yaml:"resource_param"`
	EnterpriseProjectQuery string    `yaml:"enterprise_project_query"`
	Body                   *bodySpec `yaml:"body"`
}

// bodySpec is the YAML form of a body rule. A rule has either present or
// keys, not both:
//
//	body:
//	  present:                    # each field that is present adds actions
//	    - field: server.publicip.eip
//	      actions: [vpc:publicIps:create]
//	  enterprise_project_id: server.extendparam.enterprise_project_id
//
//	body:
//	  keys:                       # the single top-level key selects actions
//	    - key: os-start
//	      actions: [ecs:cloudServers:start]
//	  server_ids: servers[].id    # inside the keyed object when keys is set
type bodySpec struct {
	Present             []fieldActionsSpec `yaml:"present"`
	Keys                []keyActionsSpec   `yaml:"keys"`
	ServerIDs           string             `yaml:"server_ids"`
	EnterpriseProjectID string             `yaml:"enterprise_project_id"`
}

type fieldActionsSpec struct {
	Field   string   `yaml:"field"`
	Actions []string `yaml:"actions"`
}

type keyActionsSpec struct {
	Key     string   `yaml:"key"`
	Actions []string `yaml:"actions"`
}

// maxPresenceFields bounds the presence fields of one body rule, because the
// action list of every combination of fields is precomputed.
const maxPresenceFields = 4

// decodeFile decodes one catalog file and returns it with the line of each
// route entry. Errors name the file and, where the YAML decoder reports it,
// the line.
func decodeFile(name string, data []byte) (*fileSpec, []int, error) {
	var spec fileSpec
	if err := yaml.UnmarshalWithOptions(data, &spec, yaml.DisallowUnknownField(), yaml.Strict()); err != nil {
		return nil, nil, fmt.Errorf("%s: %s", name, yaml.FormatError(err, false, true))
	}

	lines, err := routeLines(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(lines) != len(spec.Routes) {
		return nil, nil, fmt.Errorf("%s: found %d route entries in the YAML tree but decoded %d", name, len(lines), len(spec.Routes))
	}
	return &spec, lines, nil
}

// routeLines returns the line of each entry of the top-level "routes" list.
func routeLines(data []byte) ([]int, error) {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return nil, err
	}
	if len(file.Docs) == 0 || file.Docs[0].Body == nil {
		return nil, nil
	}
	top, ok := file.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return nil, fmt.Errorf("top level is not a mapping")
	}

	var lines []int
	for _, entry := range top.Values {
		if entry.Key.String() != "routes" {
			continue
		}
		list, ok := entry.Value.(*ast.SequenceNode)
		if !ok {
			continue
		}
		for _, item := range list.Values {
			lines = append(lines, item.GetToken().Position.Line)
		}
	}
	return lines, nil
}

var knownMethods = []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"}

// ValidateActionName checks that name is one concrete action of the form
// service:resourceType:operation: three non-empty parts, a lower-case
// service, and no wildcard (* or ?), space or control character. Policies
// may use wildcards, but a requested action is a name, not a pattern.
func ValidateActionName(name string) error { return validateActionName(name) }

// validateActionName checks the service:resourceType:operation form. The
// service is lower case, as IAM requires.
func validateActionName(name string) error {
	parts := strings.Split(name, ":")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return fmt.Errorf("action %q must have the form service:resourceType:operation", name)
	}
	if strings.ToLower(parts[0]) != parts[0] {
		return fmt.Errorf("action %q: service %q must be lower case", name, parts[0])
	}
	for _, c := range name {
		if c == '*' || c == '?' || c <= ' ' {
			return fmt.Errorf("action %q contains %q, which is not allowed in an action name", name, c)
		}
	}
	return nil
}

// validateActionList checks each name and rejects duplicates. field names the
// list in error messages.
func validateActionList(field string, names []string) error {
	for i, name := range names {
		if err := validateActionName(name); err != nil {
			return fmt.Errorf("%s[%d]: %w", field, i, err)
		}
		if slices.Index(names, name) != i {
			return fmt.Errorf("%s[%d]: action %q is listed twice", field, i, name)
		}
	}
	return nil
}
