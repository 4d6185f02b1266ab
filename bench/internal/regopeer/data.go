package regopeer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// sourceData is the peer's data file: the route table of the ECS lifecycle
// routes and the example policy store, in a form a person edits.
type sourceData struct {
	Routes      []sourceRoute       `json:"routes"`
	BodyActions map[string]string   `json:"body_actions"`
	Aliases     map[string][]string `json:"aliases"`
	Policies    map[string]policy   `json:"policies"`
	Users       map[string]any      `json:"users"`
	GroupGrants map[string]any      `json:"group_grants"`
	Servers     map[string]any      `json:"servers"`
}

type sourceRoute struct {
	Method            string   `json:"method"`
	Template          string   `json:"template"`
	Actions           []string `json:"actions"`
	EnterpriseProject bool     `json:"enterprise_project"`
	EPSource          string   `json:"ep_source"`
	BodyRule          string   `json:"body_rule"`
}

type policy struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

type statement struct {
	Effect    string          `json:"Effect"`
	Action    []string        `json:"Action"`
	Condition json.RawMessage `json:"Condition,omitempty"`
	Resource  []string        `json:"Resource,omitempty"`
}

// buildData turns the data file into the document the Rego policy reads:
// routes grouped by method and ordered most specific first, path templates
// split into segments, and action names and patterns lower-cased.
func buildData(raw []byte) (map[string]any, error) {
	var src sourceData
	decoder := json.NewDecoder(bytes.NewReader(raw))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&src); err != nil {
		return nil, fmt.Errorf("invalid peer data file: %w", err)
	}

	routes := make(map[string][]sourceRoute)
	for _, r := range src.Routes {
		routes[r.Method] = append(routes[r.Method], r)
	}
	routesByMethod := make(map[string]any, len(routes))
	for method, list := range routes {
		sort.SliceStable(list, func(i, j int) bool { return moreSpecific(list[i].Template, list[j].Template) })
		compiled := make([]any, 0, len(list))
		for _, r := range list {
			compiled = append(compiled, compileRoute(r, src.Aliases))
		}
		routesByMethod[method] = compiled
	}

	bodyActions := make(map[string]any, len(src.BodyActions))
	for key, name := range src.BodyActions {
		bodyActions[key] = actionObject(name, src.Aliases)
	}

	policies := make(map[string]any, len(src.Policies))
	for name, p := range src.Policies {
		compiled, err := compilePolicy(name, p)
		if err != nil {
			return nil, err
		}
		policies[name] = compiled
	}

	return map[string]any{
		"routes":       routesByMethod,
		"body_actions": bodyActions,
		"policies":     policies,
		"users":        src.Users,
		"group_grants": src.GroupGrants,
		"servers":      src.Servers,
	}, nil
}

// moreSpecific reports whether template a must be tried before b: at the
// first segment where they differ, a literal beats a parameter.
func moreSpecific(a, b string) bool {
	as, bs := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(as) && i < len(bs); i++ {
		aParam, bParam := isParam(as[i]), isParam(bs[i])
		if aParam != bParam {
			return !aParam
		}
	}
	return len(as) > len(bs)
}

func isParam(segment string) bool {
	return strings.HasPrefix(segment, "{") && strings.HasSuffix(segment, "}")
}

func compileRoute(r sourceRoute, aliases map[string][]string) map[string]any {
	var segments []any
	for _, segment := range strings.Split(strings.TrimPrefix(r.Template, "/"), "/") {
		if isParam(segment) {
			segments = append(segments, map[string]any{"param": true, "name": strings.Trim(segment, "{}")})
		} else {
			segments = append(segments, map[string]any{"literal": segment})
		}
	}
	actions := make([]any, 0, len(r.Actions))
	for _, name := range r.Actions {
		actions = append(actions, actionObject(name, aliases))
	}
	return map[string]any{
		"template":           r.Template,
		"segments":           segments,
		"actions":            actions,
		"enterprise_project": r.EnterpriseProject,
		"ep_source":          r.EPSource,
		"body_rule":          r.BodyRule,
	}
}

// actionObject returns an action in the form the policy reads: the reported
// name, and every lower-cased name that a statement pattern may match.
func actionObject(name string, aliases map[string][]string) map[string]any {
	matchNames := []any{strings.ToLower(name)}
	for _, alias := range aliases[name] {
		matchNames = append(matchNames, strings.ToLower(alias))
	}
	return map[string]any{"name": name, "match_names": matchNames}
}

// compilePolicy lower-cases the Action patterns. Conditions and resources
// are not supported by the peer, so a statement with either is rejected
// rather than silently widened.
func compilePolicy(name string, p policy) (map[string]any, error) {
	statements := make([]any, 0, len(p.Statement))
	for i, s := range p.Statement {
		if len(s.Condition) > 0 || len(s.Resource) > 0 {
			return nil, fmt.Errorf("policy %q statement %d: Condition and Resource are not supported by the peer", name, i)
		}
		if s.Effect != "Allow" && s.Effect != "Deny" {
			return nil, fmt.Errorf("policy %q statement %d: invalid Effect %q, want Allow or Deny", name, i, s.Effect)
		}
		patterns := make([]any, 0, len(s.Action))
		for _, pattern := range s.Action {
			patterns = append(patterns, strings.ToLower(pattern))
		}
		statements = append(statements, map[string]any{"Effect": s.Effect, "Action": patterns})
	}
	return map[string]any{"Version": p.Version, "Statement": statements}, nil
}
