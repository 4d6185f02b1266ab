package evaluator

import (
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/ecsauthz/ecsauthz/catalog"
)

// ActionsRequest is the input to [Engine.DecideActions]: a question about
// named actions rather than about an HTTP request.
type ActionsRequest struct {
	Principal Principal
	// Actions are the action names to decide, in the order to report a
	// failure. Names need not be in the catalog. A catalog name or alias is
	// decided as that catalog action, and any other name by matching Action
	// patterns against the name as given.
	Actions []string
	// ProjectID is the project the actions are performed in.
	ProjectID string
	// EnterpriseProjectID is the resource's enterprise project, "" if
	// unknown. When empty and Resource names a server in the registry, the
	// server's enterprise project is used.
	EnterpriseProjectID string
	// EnterpriseProjectSupported makes enterprise-project grants applicable,
	// as for catalog routes that support enterprise-project scope.
	EnterpriseProjectSupported bool
	// Resource is the URN of the resource, e.g.
	// "ecs:region-1:<domain_id>:instance:<server_id>", or "" for none.
	Resource string
	// Region, SourceIP, Time and RequestTags supply condition keys as in
	// [Request].
	Region      string
	SourceIP    netip.Addr
	Time        time.Time
	RequestTags map[string]string
	Explain     bool
}

// actionRef is an action to decide: a catalog action (id >= 0) or a name
// unknown to the catalog (id -1).
type actionRef struct {
	id      int
	name    string
	aliases []string
	service string
}

func (e *Engine) refOf(a *catalog.Action) actionRef {
	return actionRef{id: a.ID, name: a.Name, aliases: a.Aliases, service: e.services[a.ID]}
}

// resolveName returns the catalog action a name or alias denotes
// (case-insensitively), or a reference to the bare name.
func (e *Engine) resolveName(name string) actionRef {
	if a := e.actionIndex[strings.ToLower(name)]; a != nil {
		return e.refOf(a)
	}
	return actionRef{id: -1, name: name, service: serviceOf(name)}
}

func (e *Engine) isGlobal(a actionRef) bool {
	if a.id >= 0 {
		return e.global.has(a.id)
	}
	return !isRegional(a.service)
}

func (st *statement) matchesAction(a actionRef) bool {
	if a.id >= 0 {
		return st.actionSet.has(a.id)
	}
	return st.matchesName(a.name) || slices.ContainsFunc(a.aliases, st.matchesName)
}

// DecideActions decides whether the principal may perform every named
// action and writes the result to d, overwriting every field. It evaluates
// statement by statement instead of using the compiled bitsets, so it
// allocates. An empty action list or a malformed Resource is denied.
func (e *Engine) DecideActions(req *ActionsRequest, d *Decision) {
	*d = Decision{Statement: -1}
	if len(req.Actions) == 0 {
		d.Reason = ReasonInvalidRequest
		return
	}
	refs := make([]actionRef, len(req.Actions))
	for i, name := range req.Actions {
		refs[i] = e.resolveName(name)
	}
	p, root := e.lookupPrincipal(&req.Principal)
	switch {
	case root:
		d.Allowed, d.Reason = true, ReasonAllowed
		return
	case p == nil:
		d.Reason, d.Action = ReasonImplicitDeny, refs[0].name
		return
	}

	ec := evalContext{
		principal:         &req.Principal,
		region:            e.region(req.Region),
		sourceIP:          req.SourceIP,
		time:              req.Time,
		requestTags:       req.RequestTags,
		enterpriseProject: req.EnterpriseProjectID,
	}
	if req.Resource != "" {
		u, ok := parseURN(req.Resource)
		if !ok {
			d.Reason, d.Action = ReasonInvalidRequest, refs[0].name
			return
		}
		ec.resource, ec.hasResource = u, true
		if srv := e.serverOf(u); srv != nil {
			if srv.ProjectID != req.ProjectID {
				d.Reason, d.Action = ReasonImplicitDeny, refs[0].name
				return
			}
			ec.server = srv
			if ec.enterpriseProject == "" {
				ec.enterpriseProject = srv.EnterpriseProjectID
			}
		}
	}

	var buf [4]*bucket
	bs := p.applicable(&buf, req.ProjectID, ec.enterpriseProject, req.EnterpriseProjectSupported)
	failed, last := -1, verdict{}
	for i, ref := range refs {
		out, v := e.evalStatements(bs, ref, &ec)
		if req.Explain {
			out.EnterpriseProjectID = ec.enterpriseProject
			d.Outcomes = append(d.Outcomes, out)
		}
		if v.reason != ReasonAllowed && failed < 0 {
			failed, last = i, v
			if !req.Explain {
				break
			}
		}
		if failed < 0 {
			last = v
		}
	}
	d.Allowed, d.Reason = failed < 0, last.reason
	if failed >= 0 {
		d.Action = refs[failed].name
	}
	if last.st != nil {
		d.Policy, d.Statement = last.st.policy.name, last.st.index
	}
}

// serverOf returns the registry entry of an ECS instance URN, or nil.
func (e *Engine) serverOf(u urn) *Server {
	if !strings.EqualFold(u.service, "ecs") || !strings.EqualFold(u.resourceType, "instance") {
		return nil
	}
	return e.servers[u.path]
}

// evalStatements decides one action by evaluating every statement of every
// applicable bucket. It is the reference for the bitset tables and the
// source of explain output.
//
// The loop never stops at the first match: explain mode lists every
// statement that matched, and a Deny found after an Allow must still win.
func (e *Engine) evalStatements(bs []*bucket, a actionRef, ec *evalContext) (ActionOutcome, verdict) {
	ec.service = a.service
	out := ActionOutcome{Action: a.name}
	var firstDeny, firstAllow *statement
	for _, b := range bs {
		if b.scope == ScopeGlobal && !e.isGlobal(a) {
			continue
		}
		for _, pol := range b.policies {
			for _, st := range pol.statements {
				if !st.matchesAction(a) || !st.applies(ec) {
					continue
				}
				out.Matched = append(out.Matched, StatementRef{
					Policy: pol.name, Statement: st.index, Effect: st.effect(), Scope: b.scope, ScopeID: b.scopeID,
				})
				switch {
				case st.deny && firstDeny == nil:
					firstDeny = st
				case !st.deny && firstAllow == nil:
					firstAllow = st
				}
			}
		}
	}
	v := verdict{ReasonImplicitDeny, nil}
	switch {
	case firstDeny != nil:
		v = verdict{ReasonExplicitDeny, firstDeny}
	case firstAllow != nil:
		v = verdict{ReasonAllowed, firstAllow}
	}
	out.Allowed, out.Reason = v.reason == ReasonAllowed, v.reason
	return out, v
}

// explainResolution returns every action's outcome for a catalog request:
// per listed server on per-server and batch routes, and per granted
// enterprise project on all_granted_eps list requests.
func (e *Engine) explainResolution(p *principal, res *catalog.Resolution, req *Request) []ActionOutcome {
	ec := evalContext{
		principal:   &req.Principal,
		region:      e.region(req.Region),
		sourceIP:    req.SourceIP,
		time:        req.Time,
		requestTags: req.RequestTags,
	}
	var out []ActionOutcome
	var buf [4]*bucket
	appendOutcomes := func(bs []*bucket, serverID string) {
		for _, a := range res.Actions {
			o, _ := e.evalStatements(bs, e.refOf(a), &ec)
			o.ServerID, o.EnterpriseProjectID = serverID, ec.enterpriseProject
			out = append(out, o)
		}
	}
	switch {
	case len(res.ServerIDs) > 0:
		for _, id := range res.ServerIDs {
			srv := e.servers[id]
			if srv != nil && srv.ProjectID != res.ProjectID {
				for _, a := range res.Actions {
					out = append(out, ActionOutcome{Action: a.Name, Reason: ReasonImplicitDeny, ServerID: id})
				}
				continue
			}
			e.setServer(&ec, srv, id, res.Route.Instance)
			if srv == nil {
				ec.enterpriseProject = ""
			}
			appendOutcomes(p.applicable(&buf, res.ProjectID, ec.enterpriseProject, res.Route.EnterpriseProject && srv != nil), id)
		}
	case res.AllGrantedEPs && res.Route.EnterpriseProject:
		appendOutcomes(p.applicable(&buf, res.ProjectID, "", false), "")
		for _, b := range p.enterpriseProjects {
			ec.enterpriseProject = b.scopeID
			appendOutcomes(p.applicable(&buf, res.ProjectID, b.scopeID, true), "")
		}
	default:
		ec.enterpriseProject = res.EnterpriseProjectID
		appendOutcomes(p.applicable(&buf, res.ProjectID, res.EnterpriseProjectID, res.Route.EnterpriseProject), "")
	}
	return out
}
