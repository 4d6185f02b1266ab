package evaluator

import (
	"encoding/json"
	"net/netip"
	"time"

	"github.com/ecsauthz/ecsauthz/catalog"
)

// Reason is the stable code of a decision outcome. The same string is used in
// response headers, log fields and metric labels.
type Reason string

// The fixed set of reasons. The evaluator itself produces ReasonAllowed,
// ReasonExplicitDeny, ReasonImplicitDeny and ReasonPolicyUnavailable; the
// others come from the request-side adapters.
const (
	ReasonAllowed           Reason = "allowed"
	ReasonExplicitDeny      Reason = "explicit_deny"
	ReasonImplicitDeny      Reason = "implicit_deny"
	ReasonUnknownRoute      Reason = "unknown_route"
	ReasonUnauthenticated   Reason = "unauthenticated"
	ReasonInvalidPath       Reason = "invalid_path"
	ReasonInvalidRequest    Reason = "invalid_request"
	ReasonBodyRequired      Reason = "body_required"
	ReasonBodyTruncated     Reason = "body_truncated"
	ReasonProjectMismatch   Reason = "project_mismatch"
	ReasonPolicyUnavailable Reason = "policy_unavailable"
	ReasonDeadlineExceeded  Reason = "deadline_exceeded"
)

// Reasons lists every [Reason] in a fixed order, for metric pre-registration
// and documentation.
var Reasons = []Reason{
	ReasonAllowed, ReasonExplicitDeny, ReasonImplicitDeny, ReasonUnknownRoute,
	ReasonUnauthenticated, ReasonInvalidPath, ReasonInvalidRequest,
	ReasonBodyRequired, ReasonBodyTruncated, ReasonProjectMismatch,
	ReasonPolicyUnavailable, ReasonDeadlineExceeded,
}

// Policy is a policy document as stored: a name that grants refer to and the
// document in Huawei IAM's JSON form ({"Version":"1.1","Statement":[...]}).
type Policy struct {
	Name        string
	Description string
	Document    json.RawMessage
	// Source locates the document for error messages, e.g. "policies/deny.json:3".
	Source string
}

// User is an IAM user of a domain (account).
type User struct {
	ID         string
	Name       string
	DomainID   string
	DomainName string
	// Root marks the domain administrator, who is allowed every action.
	Root bool
}

// Group is an IAM user group.
type Group struct {
	ID       string
	Name     string
	DomainID string
}

// Membership puts a user in a group.
type Membership struct {
	GroupID string
	UserID  string
}

// ScopeKind is the kind of scope a grant applies to.
type ScopeKind int

// Grant scopes, as IAM offers them when a policy is attached.
const (
	// ScopeDomain applies to all resources of the domain: every project,
	// every enterprise project and global services.
	ScopeDomain ScopeKind = iota + 1
	// ScopeProject applies to one region project, named by ScopeID.
	ScopeProject
	// ScopeEnterpriseProject applies to one enterprise project, named by
	// ScopeID, and only on routes that support enterprise-project scope.
	ScopeEnterpriseProject
	// ScopeGlobal applies to global (region-less) services only.
	ScopeGlobal
)

// Grant attaches a policy to a group or a user at one scope. Exactly one of
// GroupID and UserID is set.
type Grant struct {
	Policy  string // Policy.Name or a built-in system policy name
	GroupID string
	UserID  string
	Scope   ScopeKind
	ScopeID string // project id or enterprise project id; empty for ScopeDomain and ScopeGlobal
	Source  string
}

// Server is one entry of the server registry: where a server lives and its tags.
type Server struct {
	ID                  string
	ProjectID           string
	EnterpriseProjectID string
	Tags                map[string]string
}

// Data is everything a policy store holds. It is immutable once passed to
// [Compile].
type Data struct {
	Policies    []Policy
	Users       []User
	Groups      []Group
	Memberships []Membership
	Grants      []Grant
	Servers     []Server
}

// Principal is the authenticated caller of one request, as established by the
// identity package.
type Principal struct {
	UserID      string
	UserName    string
	DomainID    string
	DomainName  string
	ProjectID   string
	ProjectName string
	MFAPresent  bool
	// MFAAge is the age of the MFA authentication in seconds, or -1 if unknown.
	MFAAge int64
}

// Request is the input to one decision.
type Request struct {
	Principal  Principal
	Resolution *catalog.Resolution
	Region     string
	SourceIP   netip.Addr
	Time       time.Time
	// RequestTags are tags the request sets (g:RequestTag/<key>, g:TagKeys).
	RequestTags map[string]string
	// Explain requests every action's outcome in [Decision.Outcomes].
	Explain bool
}

// Decision is the outcome of [Engine.Decide].
type Decision struct {
	Allowed bool
	Reason  Reason
	// Action is the first failing action in catalog order, by its reported
	// name; empty when allowed.
	Action string
	// Policy and Statement name the deciding statement (the Deny that matched,
	// or for an allow the first Allow of the last action); Statement is -1
	// when no statement decided (implicit deny).
	Policy    string
	Statement int
	// GrantedEnterpriseProjects lists, for all_granted_eps list requests, the
	// enterprise projects in which every action is allowed.
	GrantedEnterpriseProjects []string
	// Outcomes is filled only in explain mode.
	Outcomes []ActionOutcome
}

// ActionOutcome is one action's result in explain mode.
type ActionOutcome struct {
	Action  string
	Allowed bool
	Reason  Reason
	Matched []StatementRef
	// ServerID is the server the outcome is for on per-server and batch
	// routes, "" otherwise.
	ServerID string
	// EnterpriseProjectID is the enterprise project the outcome was
	// evaluated in, "" when none applied.
	EnterpriseProjectID string
}

// StatementRef names one statement of one policy and the grant scope that
// made it applicable.
type StatementRef struct {
	Policy    string
	Statement int
	Effect    string
	Scope     ScopeKind
	ScopeID   string
}
