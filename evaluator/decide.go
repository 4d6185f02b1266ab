package evaluator

import (
	"github.com/ecsauthz/ecsauthz/catalog"
)

// verdict is the outcome of one action for one resource, with the
// statement that decided it (nil for an implicit deny and for the root).
type verdict struct {
	reason Reason
	st     *statement
}

// Decide decides whether req's principal may perform every action of
// req.Resolution and writes the result to d, overwriting every field. It
// reuses the backing array of d.GrantedEnterpriseProjects. A request without
// a resolved route or without actions is denied (implicit_deny). Without
// conditions to evaluate and without req.Explain, Decide does not allocate.
func (e *Engine) Decide(req *Request, d *Decision) {
	*d = Decision{Statement: -1, GrantedEnterpriseProjects: d.GrantedEnterpriseProjects[:0]}
	res := req.Resolution
	if res == nil || res.Route == nil || len(res.Actions) == 0 {
		d.Reason = ReasonImplicitDeny
		return
	}
	p, root := e.lookupPrincipal(&req.Principal)
	switch {
	case root:
		d.Allowed, d.Reason = true, ReasonAllowed
		return
	case p == nil:
		d.Reason, d.Action = ReasonImplicitDeny, res.Actions[0].Name
		return
	}

	ec := evalContext{
		principal:   &req.Principal,
		region:      e.region(req.Region),
		sourceIP:    req.SourceIP,
		time:        req.Time,
		requestTags: req.RequestTags,
	}
	switch {
	case len(res.ServerIDs) > 0:
		e.decideServers(p, res, &ec, d)
	case res.AllGrantedEPs && res.Route.EnterpriseProject:
		e.decideAllGranted(p, res, &ec, d)
	default:
		ec.enterpriseProject = res.EnterpriseProjectID
		var buf [4]*bucket
		bs := p.applicable(&buf, res.ProjectID, res.EnterpriseProjectID, res.Route.EnterpriseProject)
		index, v := e.firstFailure(bs, res.Actions, &ec)
		d.set(res.Actions, index, v)
	}
	if req.Explain {
		d.Outcomes = e.explainResolution(p, res, req)
	}
}

// lookupPrincipal returns the compiled grants of the caller, or nil when the
// caller is unknown or belongs to another domain. root is true for a domain
// administrator of the caller's domain.
func (e *Engine) lookupPrincipal(pr *Principal) (p *principal, root bool) {
	p = e.principals[pr.UserID]
	if p == nil {
		return nil, e.roots[pr.UserID]
	}
	// A token for another account cannot use this account's grants.
	if p.user.DomainID != pr.DomainID {
		return nil, false
	}
	return p, p.root
}

func (e *Engine) region(requested string) string {
	if requested != "" {
		return requested
	}
	return e.conf.Region
}

// applicable returns the buckets whose grants apply to a request in project
// and, when useEP is set and enterpriseProject is not empty, in that
// enterprise project. The global-services bucket is included, because its
// bitsets contain global actions only.
func (p *principal) applicable(buf *[4]*bucket, project, enterpriseProject string, useEP bool) []*bucket {
	bs := buf[:0]
	if p.domain != nil {
		bs = append(bs, p.domain)
	}
	for _, b := range p.projects {
		if b.scopeID == project {
			bs = append(bs, b)
			break
		}
	}
	if useEP && enterpriseProject != "" {
		for _, b := range p.enterpriseProjects {
			if b.scopeID == enterpriseProject {
				bs = append(bs, b)
				break
			}
		}
	}
	if p.global != nil {
		bs = append(bs, p.global)
	}
	return bs
}

// firstFailure evaluates actions in order and returns the index of the first
// one not allowed with its verdict, or -1 with the verdict of the last action.
// Only the returned verdict names its statement, so the lookup of a
// bitset's statement is paid once per request, not once per action.
func (e *Engine) firstFailure(bs []*bucket, actions []*catalog.Action, ec *evalContext) (int, verdict) {
	var v verdict
	for i, a := range actions {
		v = e.evalAction(bs, a, ec)
		if v.reason != ReasonAllowed {
			v.st = ec.statement(v, a.ID)
			return i, v
		}
	}
	if len(actions) > 0 {
		v.st = ec.statement(v, actions[len(actions)-1].ID)
	}
	return -1, v
}

// evalAction decides one action for one resource. When a bucket's bitset
// decides, the verdict has no statement and ec.fast is that bucket, so
// that [evalContext.statement] can look the statement up when needed.
//
// Every bucket and every conditional statement is searched for a Deny
// before any Allow is trusted. An explicit deny from any scope or group beats
// an allow from another, so finding an Allow first must not end the search.
// Only a matching Deny ends it early, because nothing can override it.
func (e *Engine) evalAction(bs []*bucket, a *catalog.Action, ec *evalContext) verdict {
	id := a.ID
	ec.service = e.services[id]
	ec.fast = nil
	for _, b := range bs {
		if b.deny.has(id) {
			ec.fast = b
			return verdict{ReasonExplicitDeny, nil}
		}
	}
	for _, b := range bs {
		if st := e.firstSlow(b, id, true, ec); st != nil {
			return verdict{ReasonExplicitDeny, st}
		}
	}
	for _, b := range bs {
		if b.allow.has(id) {
			ec.fast = b
			return verdict{ReasonAllowed, nil}
		}
	}
	for _, b := range bs {
		if st := e.firstSlow(b, id, false, ec); st != nil {
			return verdict{ReasonAllowed, st}
		}
	}
	return verdict{ReasonImplicitDeny, nil}
}

// statement returns the statement of v, the verdict evalAction returned
// last for action id, looking it up in ec.fast when a bitset decided.
func (ec *evalContext) statement(v verdict, id int) *statement {
	if v.st != nil || ec.fast == nil {
		return v.st
	}
	return ec.fast.fastStatement(v.reason == ReasonExplicitDeny, id)
}

// fastStatement returns the condition-free statement that denies (deny set)
// or allows action id in the bucket's bitsets: the first in grant order,
// then statement order. id must be in that bitset.
func (b *bucket) fastStatement(deny bool, id int) *statement {
	if index := b.statements; index != nil {
		if deny {
			return index.denyBy[index.denyRank.rank(b.deny, id)]
		}
		return index.allowBy[index.allowRank.rank(b.allow, id)]
	}
	for _, pol := range b.policies {
		set := pol.allow
		if deny {
			set = pol.deny
		}
		if !set.has(id) {
			continue
		}
		for _, st := range pol.statements {
			if st.deny == deny && st.fast() && st.actionSet.has(id) {
				return st
			}
		}
	}
	return nil
}

// firstSlow returns the first conditional or resource-restricted statement
// of the bucket with the given effect that applies to action id.
func (e *Engine) firstSlow(b *bucket, id int, deny bool, ec *evalContext) *statement {
	if b.scope == ScopeGlobal && !e.global.has(id) {
		return nil
	}
	for _, st := range b.slow {
		if st.deny == deny && st.actionSet.has(id) && st.applies(ec) {
			return st
		}
	}
	return nil
}

// applies reports whether the statement's Resource and Condition elements
// hold for the request. On a route with instance-level resources, some
// Resource entry must match the resource's URN. Elsewhere the statement
// applies only if Resource is absent or an entry covers every resource of
// any service (region, domain, type and path all "*").
func (st *statement) applies(ec *evalContext) bool {
	if st.resources != nil && !st.anyResource {
		if !st.matchesResource(ec) {
			return false
		}
	}
	for _, c := range st.conditions {
		if !c.eval(ec) {
			return false
		}
	}
	return true
}

func (st *statement) matchesResource(ec *evalContext) bool {
	for _, rp := range st.resources {
		if ec.hasResource {
			if rp.match(&ec.resource) {
				return true
			}
		} else if rp.unrestricted() {
			return true
		}
	}
	return false
}

// decideServers decides a per-server or batch request: every listed server
// must be allowed. The result names the first failing action in catalog
// order and, among servers failing at that action, the first listed one.
func (e *Engine) decideServers(p *principal, res *catalog.Resolution, ec *evalContext, d *Decision) {
	route := res.Route
	worst, worstVerdict := -1, verdict{}
	var allowVerdict verdict
	for _, id := range res.ServerIDs {
		actions := res.Actions
		if worst >= 0 {
			actions = actions[:worst]
		}
		srv := e.servers[id]
		if srv != nil && srv.ProjectID != res.ProjectID {
			// The server lives in another project than the one the request
			// names, so no grant for the request's project may cover it.
			worst, worstVerdict = 0, verdict{ReasonImplicitDeny, nil}
			break
		}
		e.setServer(ec, srv, id, route.Instance)
		if srv == nil {
			ec.enterpriseProject = ""
		}
		var buf [4]*bucket
		bs := p.applicable(&buf, res.ProjectID, ec.enterpriseProject, route.EnterpriseProject && srv != nil)
		index, v := e.firstFailure(bs, actions, ec)
		switch {
		case index >= 0:
			worst, worstVerdict = index, v
		case worst < 0:
			allowVerdict = v
		}
		if worst == 0 {
			break
		}
	}
	if worst >= 0 {
		d.set(res.Actions, worst, worstVerdict)
		return
	}
	d.set(res.Actions, -1, allowVerdict)
}

// setServer points the evaluation context at one server: its registry entry
// (tags, enterprise project) and, on instance-capable routes, its URN.
func (e *Engine) setServer(ec *evalContext, srv *Server, id string, instance bool) {
	ec.server = srv
	if srv != nil {
		ec.enterpriseProject = srv.EnterpriseProjectID
	}
	ec.hasResource = instance
	ec.resource = urn{service: "ecs", region: ec.region, domainID: ec.principal.DomainID, resourceType: "instance", path: id}
}

// decideAllGranted decides a list request with
// enterprise_project_id=all_granted_eps. It is allowed when every action is
// allowed at all-resources or project scope (GrantedEnterpriseProjects then
// stays empty, meaning all), or else in at least one enterprise project, and
// the decision lists the enterprise projects where every action is allowed.
func (e *Engine) decideAllGranted(p *principal, res *catalog.Resolution, ec *evalContext, d *Decision) {
	var buf [4]*bucket
	bs := p.applicable(&buf, res.ProjectID, "", false)
	index, base := e.firstFailure(bs, res.Actions, ec)
	if index < 0 {
		d.set(res.Actions, -1, base)
		return
	}
	var granted verdict
	for _, b := range p.enterpriseProjects {
		ec.enterpriseProject = b.scopeID
		bs := p.applicable(&buf, res.ProjectID, b.scopeID, true)
		if i, v := e.firstFailure(bs, res.Actions, ec); i < 0 {
			if len(d.GrantedEnterpriseProjects) == 0 {
				granted = v
			}
			d.GrantedEnterpriseProjects = append(d.GrantedEnterpriseProjects, b.scopeID)
		}
	}
	if len(d.GrantedEnterpriseProjects) > 0 {
		d.set(res.Actions, -1, granted)
		return
	}
	d.set(res.Actions, index, base)
}

// set records a verdict: allowed when index is -1, else the failure of
// actions[index].
func (d *Decision) set(actions []*catalog.Action, index int, v verdict) {
	d.Allowed = index < 0
	d.Reason = v.reason
	if index >= 0 {
		d.Action = actions[index].Name
	}
	if v.st != nil {
		d.Policy, d.Statement = v.st.policy.name, v.st.index
	}
}
