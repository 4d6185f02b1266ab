// Package catalog maps ECS API requests to the IAM actions they require.
//
// A [Catalog] is loaded once from embedded YAML, validated, and compiled into
// a segment-tree matcher. [Catalog.Resolve] turns a method, a raw request
// target and, for routes that declare a body rule, the JSON body into a
// [Resolution]: the matched [Route], its path parameters and the exact list of
// actions to evaluate.
package catalog

import "errors"

// Sentinel errors returned by [Catalog.Resolve]. Callers test them with
// errors.Is; the wrapped error carries the rejected fragment.
var (
	// ErrUnknownRoute means no route matches the method and path.
	ErrUnknownRoute = errors.New("unknown route")
	// ErrInvalidPath means the request target failed canonicalization.
	ErrInvalidPath = errors.New("invalid path")
	// ErrBodyRequired means the route has a body rule and the body is missing
	// or names no known action.
	ErrBodyRequired = errors.New("body required")
	// ErrBodyInvalid means the body is not JSON of the shape the rule expects.
	ErrBodyInvalid = errors.New("body invalid")
	// ErrBodyTruncated means the proxy marked the body as partial.
	ErrBodyTruncated = errors.New("body truncated")
)

// MaxParams is the maximum number of path parameters in one route template.
const MaxParams = 8

// Action is one IAM action known to the catalog. Name is the name reported in
// decisions; Aliases are the other names a policy may use for it (for example
// the pre-2023 and post-2023 names of one ECS action).
type Action struct {
	// ID is the action's index in [Catalog.Actions], stable for one loaded
	// catalog. The evaluator uses it to index precompiled decision tables.
	ID      int
	Name    string
	Aliases []string
}

// Route is one catalog entry: an HTTP method and path template with the
// actions it requires.
type Route struct {
	Method        string // upper case, e.g. "POST"
	Path          string // template, e.g. "/v1/{project_id}/cloudservers/{server_id}"
	DescriptionZH string
	DescriptionEN string

	// Actions are the actions every request to the route requires, in
	// catalog order. Body rules may add to them; see [Resolution.Actions].
	Actions []*Action

	EnterpriseProject bool // route supports enterprise-project scope
	Instance          bool // route supports resource-level instance URNs
	Tag               bool // route supports tag conditions

	ProjectParam  string // path parameter naming the project, usually "project_id"
	ResourceParam string // path parameter naming the resource, e.g. "server_id"; may be empty

	// EnterpriseProjectQuery is the query parameter that names the target
	// enterprise project (e.g. "enterprise_project_id" on list), or "".
	EnterpriseProjectQuery string

	// BodyRule describes how the JSON body adds actions and supplies values.
	// It is nil for routes that never read the body.
	BodyRule *BodyRule

	// File and Line locate the entry's declaration, for load errors.
	File string
	Line int
}

// Param is one path parameter of a match. Value is percent-decoded.
type Param struct {
	Name  string
	Value string
}

// Request is the input to [Catalog.Resolve].
type Request struct {
	Method string
	// Target is the raw request target as the proxy saw it, query included
	// and not decoded, e.g. "/v1/p1/cloudservers/detail?limit=25".
	Target string
	// Body is the request body, nil when the proxy sent none.
	Body []byte
	// BodyTruncated is true when the proxy marked the body as partial.
	BodyTruncated bool
}

// Resolution is the outcome of resolving one request. The zero value is
// ready to use; Resolve overwrites every field, so one Resolution may be
// reused across requests.
type Resolution struct {
	Route *Route

	params  [MaxParams]Param
	nparams int

	// Query is the raw query string without the leading '?'.
	Query string

	// Actions is the full list of required actions for this request: the
	// route's actions plus those selected by its body rule, in catalog order.
	// It points into precomputed catalog data and must not be modified.
	Actions []*Action

	// ProjectID is the value of the route's project parameter.
	ProjectID string
	// ServerIDs are the servers the request acts on: the value of the
	// route's resource parameter when that parameter is "server_id", or the
	// ids listed in the body (e.g. servers[].id of a batch request). Nil when
	// the request names no server. A path parameter value is stored inside
	// the Resolution, so copy the slice to keep it past the next Resolve.
	ServerIDs []string
	serverID  [1]string // backing array of ServerIDs for a path parameter
	// EnterpriseProjectID is the enterprise project the request targets:
	// server.extendparam.enterprise_project_id on create ("0" when absent),
	// or the enterprise_project_id query parameter on list. Empty when the
	// request names none.
	EnterpriseProjectID string
	// AllGrantedEPs is true when the list query contains
	// enterprise_project_id=all_granted_eps.
	AllGrantedEPs bool
}

// Params returns the path parameters of the match.
func (r *Resolution) Params() []Param { return r.params[:r.nparams] }

// Param returns the value of the named path parameter, or "" if absent.
func (r *Resolution) Param(name string) string {
	for _, p := range r.params[:r.nparams] {
		if p.Name == name {
			return p.Value
		}
	}
	return ""
}
