package catalog

import (
	"fmt"
	"slices"
)

// compileRoute validates one route entry and compiles it. Errors name the
// field.
func (b *builder) compileRoute(p pendingRoute) (*compiledRoute, error) {
	spec := p.spec
	segments, err := validateRouteSpec(spec)
	if err != nil {
		return nil, err
	}

	compiled := &compiledRoute{segments: segments, paramNames: paramNames(segments), serverIndex: -1}
	if err := compiled.setParams(spec); err != nil {
		return nil, err
	}

	route := &Route{
		Method:                 spec.Method,
		Path:                   spec.Path,
		DescriptionZH:          spec.DescriptionZH,
		DescriptionEN:          spec.DescriptionEN,
		Actions:                b.actionList(spec.Actions),
		EnterpriseProject:      spec.EnterpriseProject,
		Instance:               spec.Instance,
		Tag:                    spec.Tag,
		ProjectParam:           compiled.paramNames[compiled.projectIndex],
		ResourceParam:          spec.ResourceParam,
		EnterpriseProjectQuery: spec.EnterpriseProjectQuery,
		File:                   p.file,
		Line:                   p.line,
	}
	compiled.route = route

	if spec.Body != nil {
		if compiled.body, err = b.compileBody(route, spec.Body); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
	}
	if spec.Instance && compiled.serverIndex < 0 && (compiled.body == nil || compiled.body.serverIDs == nil) {
		return nil, fmt.Errorf("instance: a route with instance authorization needs resource_param server_id or body.server_ids")
	}
	return compiled, nil
}

// validateRouteSpec checks the fields of a route entry that need no other
// entry, and returns the parsed path template.
func validateRouteSpec(spec routeSpec) ([]segment, error) {
	if !slices.Contains(knownMethods, spec.Method) {
		return nil, fmt.Errorf("method: %q is not one of %v", spec.Method, knownMethods)
	}
	segments, err := parseTemplate(spec.Path)
	if err != nil {
		return nil, fmt.Errorf("path: %w", err)
	}
	if spec.DescriptionZH == "" {
		return nil, fmt.Errorf("description_zh: missing")
	}
	if spec.DescriptionEN == "" {
		return nil, fmt.Errorf("description_en: missing")
	}
	if err := validateActionList("actions", spec.Actions); err != nil {
		return nil, err
	}
	if len(spec.Actions) == 0 && (spec.Body == nil || len(spec.Body.Keys) == 0) {
		return nil, fmt.Errorf("actions: missing, and only a route whose body rule has keys may list none")
	}
	if spec.EnterpriseProjectQuery != "" && !validQueryName(spec.EnterpriseProjectQuery) {
		return nil, fmt.Errorf("enterprise_project_query: %q is not a valid query parameter name", spec.EnterpriseProjectQuery)
	}
	return segments, nil
}

// setParams resolves the project and resource parameters.
func (c *compiledRoute) setParams(spec routeSpec) error {
	projectParam := spec.ProjectParam
	if projectParam == "" {
		projectParam = "project_id"
	}
	c.projectIndex = slices.Index(c.paramNames, projectParam)
	if c.projectIndex < 0 {
		return fmt.Errorf("project_param: %q is not a parameter of the path", projectParam)
	}

	if spec.ResourceParam == "" {
		return nil
	}
	resourceIndex := slices.Index(c.paramNames, spec.ResourceParam)
	if resourceIndex < 0 {
		return fmt.Errorf("resource_param: %q is not a parameter of the path", spec.ResourceParam)
	}
	if resourceIndex == c.projectIndex {
		return fmt.Errorf("resource_param: %q is also the project parameter", spec.ResourceParam)
	}
	if spec.ResourceParam == serverParam {
		c.serverIndex = resourceIndex
	}
	return nil
}

// serverParam is the path parameter name that identifies a server. When it
// is a route's resource parameter, its value becomes [Resolution.ServerIDs].
const serverParam = "server_id"

func (b *builder) compileBody(route *Route, spec *bodySpec) (*bodyRule, error) {
	rule := &bodyRule{}
	declared := &BodyRule{ServerIDs: spec.ServerIDs, EnterpriseProjectID: spec.EnterpriseProjectID}

	switch {
	case len(spec.Present) > 0 && len(spec.Keys) > 0:
		return nil, fmt.Errorf("present and keys cannot both be set")
	case len(spec.Present) > maxPresenceFields:
		return nil, fmt.Errorf("present: %d fields, more than the maximum of %d", len(spec.Present), maxPresenceFields)
	case len(spec.Present) > 0:
		if err := b.compilePresent(route, spec.Present, rule, declared); err != nil {
			return nil, err
		}
	case len(spec.Keys) > 0:
		if err := b.compileKeys(route, spec.Keys, rule, declared); err != nil {
			return nil, err
		}
	default:
		rule.byMask = [][]*Action{route.Actions}
	}

	if spec.ServerIDs != "" {
		ids, err := parseIDPath(spec.ServerIDs)
		if err != nil {
			return nil, fmt.Errorf("server_ids: %w", err)
		}
		rule.serverIDs = ids
	}
	if spec.EnterpriseProjectID != "" {
		field, err := parseFieldPath(spec.EnterpriseProjectID)
		if err != nil {
			return nil, fmt.Errorf("enterprise_project_id: %w", err)
		}
		rule.epField = field
	}
	if rule.serverIDs == nil && rule.epField == nil && len(spec.Present) == 0 && len(spec.Keys) == 0 {
		return nil, fmt.Errorf("the rule is empty")
	}

	route.BodyRule = declared
	return rule, nil
}

// compilePresent precomputes the action list for every combination of
// present fields, so that resolving a body allocates no action list.
func (b *builder) compilePresent(route *Route, present []fieldActionsSpec, rule *bodyRule, declared *BodyRule) error {
	extra := make([][]*Action, len(present))
	for i, p := range present {
		field, err := parseFieldPath(p.Field)
		if err != nil {
			return fmt.Errorf("present[%d].field: %w", i, err)
		}
		if len(p.Actions) == 0 {
			return fmt.Errorf("present[%d].actions: missing", i)
		}
		if err := validateActionList(fmt.Sprintf("present[%d].actions", i), p.Actions); err != nil {
			return err
		}
		rule.present = append(rule.present, field)
		extra[i] = b.actionList(p.Actions)
		declared.Present = append(declared.Present, FieldActions{Field: p.Field, Actions: extra[i]})
	}

	rule.byMask = make([][]*Action, 1<<len(present))
	for mask := range rule.byMask {
		actions := slices.Clone(route.Actions)
		for i := range present {
			if mask&(1<<i) != 0 {
				actions = appendNew(actions, extra[i])
			}
		}
		rule.byMask[mask] = slices.Clip(actions)
	}
	return nil
}

func (b *builder) compileKeys(route *Route, keys []keyActionsSpec, rule *bodyRule, declared *BodyRule) error {
	rule.keys = make(map[string][]*Action, len(keys))
	for i, k := range keys {
		if k.Key == "" {
			return fmt.Errorf("keys[%d].key: missing", i)
		}
		if _, dup := rule.keys[k.Key]; dup {
			return fmt.Errorf("keys[%d].key: %q is listed twice", i, k.Key)
		}
		if len(k.Actions) == 0 && len(route.Actions) == 0 {
			return fmt.Errorf("keys[%d].actions: missing", i)
		}
		if err := validateActionList(fmt.Sprintf("keys[%d].actions", i), k.Actions); err != nil {
			return err
		}
		extra := b.actionList(k.Actions)
		rule.keys[k.Key] = slices.Clip(appendNew(slices.Clone(route.Actions), extra))
		declared.Keys = append(declared.Keys, KeyActions{Key: k.Key, Actions: extra})
	}
	return nil
}

// appendNew appends the actions of extra that list does not contain yet.
func appendNew(list, extra []*Action) []*Action {
	for _, a := range extra {
		if !slices.Contains(list, a) {
			list = append(list, a)
		}
	}
	return list
}

func validQueryName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return name != ""
}
