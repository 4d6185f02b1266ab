# Authorization of ECS API requests, written the way an OPA user would write
# it: the same job as ecsauthz over the same example data.
#
# Input, built by the peer server from the Envoy CheckRequest:
#   method          HTTP method
#   path            raw request target, query included
#   body            request body as a string, "" when none
#   body_truncated  true when Envoy marked the body as partial
#   claims          the JWT payload from Envoy's jwt_authn metadata, if any
#   bearer          the bearer token, used only when claims is absent
#
# Data: data.json, plus data.jwt {jwks, issuer, audience} from the server's
# flags.
# Data: see data.json. Statement Action patterns and action names are
# lower-cased by the server at load time, because IAM compares the resource
# type and operation case-insensitively.
package ecsauthz

default decision := {"allowed": false, "reason": "unknown_route", "action": ""}

target_parts := split(input.path, "?")

path_segments := split(trim_prefix(target_parts[0], "/"), "/")

query_params[name] := value if {
	count(target_parts) > 1
	some pair in split(target_parts[1], "&")
	kv := split(pair, "=")
	count(kv) == 2
	name := kv[0]
	value := kv[1]
}

# Routes of one method are ordered most specific first, so the lowest
# matching index wins: /cloudservers/detail before /cloudservers/{server_id}.
route_index := min({i |
	some i, r in data.routes[input.method]
	route_matches(r)
})

route := data.routes[input.method][route_index]

route_matches(r) if {
	count(r.segments) == count(path_segments)
	every j, s in r.segments {
		segment_matches(s, path_segments[j])
	}
}

segment_matches(s, _) if s.param

segment_matches(s, value) if s.literal == value

params[s.name] := path_segments[j] if {
	some j, s in route.segments
	s.param
}

# Identity: trust the payload Envoy's jwt_authn filter verified. Without it,
# verify the bearer token against the JWKS with its issuer, audience, expiry
# and not-before (OPA caches verified tokens between queries). With no JWKS
# configured the payload is decoded without any check.
claims := input.claims if {
	input.claims
} else := payload if {
	input.bearer != ""
	data.jwt.jwks != ""
	constraints := {"cert": data.jwt.jwks, "iss": data.jwt.issuer, "aud": data.jwt.audience}
	[valid, _, payload] := io.jwt.decode_verify(input.bearer, constraints)
	valid
} else := payload if {
	input.bearer != ""
	data.jwt.jwks == ""
	[_, payload, _] := io.jwt.decode(input.bearer)
}

user := data.users[claims.sub]

body := json.unmarshal(input.body) if route.body_rule != ""

publicip := object.get(body, ["server", "publicip"], {})

body_actions contains data.body_actions.publicip_create if {
	route.body_rule == "publicip"
	publicip.eip
}

body_actions contains data.body_actions.publicip_update if {
	route.body_rule == "publicip"
	publicip.id
}

required_actions := array.concat(route.actions, [a | some a in body_actions])

# The enterprise project the request targets: from the server registry for
# per-server and batch routes, from the body on create, from the query on
# list. Enterprise-project grants apply only when there is exactly one.
request_eps contains ep if {
	route.ep_source == "server"
	ep := data.servers[params.server_id].enterprise_project_id
}

request_eps contains ep if {
	route.ep_source == "batch"
	some s in body.servers
	ep := data.servers[s.id].enterprise_project_id
}

request_eps contains ep if {
	route.ep_source == "body"
	ep := object.get(body, ["server", "extendparam", "enterprise_project_id"], "0")
}

request_eps contains query_params.enterprise_project_id if route.ep_source == "query"

applicable_grants contains grant if {
	some group in user.groups
	some grant in data.group_grants[group]
	grant_applies(grant)
}

grant_applies(grant) if grant.scope == "domain"

grant_applies(grant) if {
	grant.scope == "project"
	grant.scope_id == params.project_id
}

grant_applies(grant) if {
	grant.scope == "enterprise_project"
	route.enterprise_project
	count(request_eps) == 1
	request_eps[grant.scope_id]
}

statements contains statement if {
	some grant in applicable_grants
	some statement in data.policies[grant.policy].Statement
}

action_matches(patterns, action) if {
	some pattern in patterns
	some name in action.match_names
	glob.match(pattern, [":"], name)
}

denied(action) if {
	some statement in statements
	statement.Effect == "Deny"
	action_matches(statement.Action, action)
}

allowed(action) if {
	some statement in statements
	statement.Effect == "Allow"
	action_matches(statement.Action, action)
}

action_ok(action) if {
	not denied(action)
	allowed(action)
}

failing_actions := [a | some a in required_actions; not action_ok(a)]

# For list requests with enterprise_project_id=all_granted_eps: the
# enterprise projects in which every required action is allowed.
granted_eps contains ep if {
	query_params.enterprise_project_id == "all_granted_eps"
	some group in user.groups
	some grant in data.group_grants[group]
	grant.scope == "enterprise_project"
	ep := grant.scope_id
	every action in required_actions {
		ep_allows(ep, action)
	}
}

ep_statements(ep) := {statement |
	some group in user.groups
	some grant in data.group_grants[group]
	ep_grant_applies(grant, ep)
	some statement in data.policies[grant.policy].Statement
}

ep_grant_applies(grant, _) if grant.scope == "domain"

ep_grant_applies(grant, _) if {
	grant.scope == "project"
	grant.scope_id == params.project_id
}

ep_grant_applies(grant, ep) if {
	grant.scope == "enterprise_project"
	grant.scope_id == ep
}

ep_allows(ep, action) if {
	candidates := ep_statements(ep)
	not effect_matches(candidates, "Deny", action)
	effect_matches(candidates, "Allow", action)
}

effect_matches(candidates, effect, action) if {
	some statement in candidates
	statement.Effect == effect
	action_matches(statement.Action, action)
}

allow := {"allowed": true, "reason": "allowed", "action": "", "user_id": claims.sub, "domain_id": object.get(claims, "domain_id", "")}

deny(reason, action) := {"allowed": false, "reason": reason, "action": action}

# A path with an empty, "." or ".." segment (also percent-encoded) or an
# encoded slash is rejected before matching, because a proxy or upstream
# may normalize it to a different route.
invalid_path if {
	some segment in path_segments
	urlquery.decode(segment) in {"", ".", ".."}
}

invalid_path if contains(lower(target_parts[0]), "%2f")

decision := deny("invalid_path", "") if {
	invalid_path
} else := deny("unauthenticated", "") if {
	route
	not claims.sub
} else := deny("project_mismatch", "") if {
	route
	claims.project_id != params.project_id
} else := deny("body_truncated", "") if {
	route.body_rule != ""
	input.body_truncated
} else := deny("body_required", "") if {
	route.body_rule != ""
	input.body == ""
} else := deny("invalid_request", "") if {
	route.body_rule != ""
	not json.is_valid(input.body)
} else := allow if {
	route
	user.root
} else := allow if {
	route
	count(failing_actions) == 0
} else := object.union(allow, {"granted_eps": sort(granted_eps)}) if {
	route
	count(granted_eps) > 0
} else := deny("explicit_deny", failing_actions[0].name) if {
	denied(failing_actions[0])
} else := deny("implicit_deny", failing_actions[0].name) if {
	route
}
