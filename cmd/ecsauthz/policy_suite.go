package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store"
)

// policySuite is one YAML test suite of "ecsauthz policy test". The
// principals, grants and servers it declares are added to those of the
// policy directory, which its cases then run against.
type policySuite struct {
	// Description is a free-text summary of what the suite covers.
	Description string `yaml:"description"`
	// Store is the policy directory in the file-store layout, relative to
	// the suite file. The --store flag overrides it. Empty means only the
	// built-in system policies and what the suite declares.
	Store      string        `yaml:"store"`
	Principals []suiteUser   `yaml:"principals"`
	Grants     []suiteGrant  `yaml:"grants"`
	Servers    []suiteServer `yaml:"servers"`
	Tests      []suiteCase   `yaml:"tests"`
}

// suiteUser declares a user and the groups it belongs to. Groups that the
// store does not have are created in the user's domain.
type suiteUser struct {
	ID         string   `yaml:"id"`
	Name       string   `yaml:"name"`
	DomainID   string   `yaml:"domain_id"`
	DomainName string   `yaml:"domain_name"`
	Root       bool     `yaml:"root"`
	Groups     []string `yaml:"groups"`
}

// suiteGrant has the shape of a grant in the file store's grants.yaml.
type suiteGrant struct {
	Policy  string `yaml:"policy"`
	Group   string `yaml:"group"`
	User    string `yaml:"user"`
	Scope   string `yaml:"scope"`
	ScopeID string `yaml:"scope_id"`
}

type suiteServer struct {
	ID                  string            `yaml:"id"`
	ProjectID           string            `yaml:"project_id"`
	EnterpriseProjectID string            `yaml:"enterprise_project_id"`
	Tags                map[string]string `yaml:"tags"`
}

// suiteCase is one request and its expected decision. A case names either
// a request (method and path, resolved through the catalog) or a list of
// actions with a project.
type suiteCase struct {
	Name      string        `yaml:"name"`
	Principal string        `yaml:"principal"`
	Request   *suiteRequest `yaml:"request"`

	Actions             []string `yaml:"actions"`
	ProjectID           string   `yaml:"project_id"`
	EnterpriseProjectID string   `yaml:"enterprise_project_id"`
	// ServerID is the server the actions act on. Its registry entry gives
	// the enterprise project and tags.
	ServerID string `yaml:"server_id"`

	SourceIP    string            `yaml:"source_ip"`
	Time        time.Time         `yaml:"time"`
	MFAPresent  bool              `yaml:"mfa_present"`
	RequestTags map[string]string `yaml:"request_tags"`

	Expect suiteExpect `yaml:"expect"`
}

type suiteRequest struct {
	Method        string `yaml:"method"`
	Path          string `yaml:"path"`
	Body          string `yaml:"body"`
	BodyTruncated bool   `yaml:"body_truncated"`
}

// suiteExpect is the expected outcome. Reason and Action are checked only
// when set.
type suiteExpect struct {
	Allowed *bool  `yaml:"allowed"`
	Reason  string `yaml:"reason"`
	Action  string `yaml:"action"`
}

// caseResult is one row of the result table.
type caseResult struct {
	suite, name, expected, got string
	passed                     bool
	detail                     string
}

func runPolicyTest(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz policy test", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeDir := fs.String("store", "", "policy `directory` in the file-store layout; overrides each suite's store key")
	region := fs.String("region", "region-1", "region `name` used in resource URNs")
	filter := fs.String("run", "", "run only cases whose name contains this `substring`")
	limits := limitsFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "ecsauthz policy test: name at least one suite file or directory\n\n"+policyUsage)
		return 2
	}

	files, err := suiteFiles(fs.Args())
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz policy test: %v\n", err)
		return 2
	}
	cat, err := catalog.Load()
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz policy test: failed to load the catalog: %v\n", err)
		return 1
	}

	runner := &suiteRunner{catalog: cat, storeDir: *storeDir, filter: *filter}
	runner.conf.Region = *region
	runner.conf.Limits = *limits
	runner.conf.SetDefaults()

	var results []caseResult
	for _, file := range files {
		results = append(results, runner.runFile(ctx, file)...)
	}
	return printResults(stdout, results)
}

// suiteFiles expands directories to their *.yaml and *.yml files, sorted.
func suiteFiles(paths []string) ([]string, error) {
	var files []string
	for _, path := range paths {
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read test suites: %w", err)
		}
		if !info.IsDir() {
			files = append(files, path)
			continue
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read test suites: %w", err)
		}
		for _, e := range entries {
			ext := filepath.Ext(e.Name())
			if !e.IsDir() && (ext == ".yaml" || ext == ".yml") {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no *.yaml test suites in %s", strings.Join(paths, ", "))
	}
	sort.Strings(files)
	return files, nil
}

type suiteRunner struct {
	catalog  *catalog.Catalog
	conf     evaluator.Config
	storeDir string
	filter   string
}

// runFile runs one suite. When the suite or its policies cannot be loaded,
// every case of the suite fails with the load error, and a suite that
// cannot be parsed counts as one failed case.
func (r *suiteRunner) runFile(ctx context.Context, file string) []caseResult {
	suiteName := filepath.Join(filepath.Base(filepath.Dir(file)), filepath.Base(file))
	suite, err := readSuite(file)
	if err != nil {
		return []caseResult{{suite: suiteName, name: "(load suite)", expected: "-", got: "error", detail: err.Error()}}
	}

	engine, data, err := r.compile(ctx, file, suite)
	var results []caseResult
	for _, c := range suite.Tests {
		if r.filter != "" && !strings.Contains(c.Name, r.filter) {
			continue
		}
		result := caseResult{suite: suiteName, name: c.Name, expected: c.Expect.String()}
		if err != nil {
			result.got, result.detail = "invalid policy", err.Error()
		} else {
			result = r.runCase(engine, data, &c, result)
		}
		results = append(results, result)
	}
	return results
}

func readSuite(file string) (*policySuite, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("failed to read suite: %w", err)
	}
	var suite policySuite
	if err := yaml.UnmarshalWithOptions(src, &suite, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("invalid suite %s: %w", file, err)
	}
	if len(suite.Tests) == 0 {
		return nil, fmt.Errorf("invalid suite %s: tests: missing", file)
	}
	return &suite, nil
}

// compile loads the suite's policy directory, adds the suite's
// declarations and compiles the result.
func (r *suiteRunner) compile(ctx context.Context, file string, suite *policySuite) (*evaluator.Engine, *evaluator.Data, error) {
	data := &evaluator.Data{}
	dir := r.storeDir
	if dir == "" && suite.Store != "" {
		dir = filepath.Join(filepath.Dir(file), suite.Store)
	}
	if dir != "" {
		if err := r.checkPolicyFiles(dir); err != nil {
			return nil, nil, err
		}
		limits := r.conf.Limits
		validate := func(name string, doc []byte) error { return evaluator.ValidatePolicy(name, doc, limits) }
		snap, err := store.NewFileStore(dir, store.WithValidator(validate)).Load(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("failed to load policy directory %s: %w", dir, err)
		}
		data = snap.Data
	}

	if err := addSuiteData(data, suite); err != nil {
		return nil, nil, err
	}
	engine, _, err := evaluator.Compile(data, r.catalog, r.conf)
	if err != nil {
		return nil, nil, fmt.Errorf("failed to compile policies: %w", err)
	}
	return engine, data, nil
}

// checkPolicyFiles validates the policy documents of a file-store
// directory and returns an error listing each problem with its file and
// line, or nil when every document is valid.
func (r *suiteRunner) checkPolicyFiles(dir string) error {
	files, err := filepath.Glob(filepath.Join(dir, store.PoliciesDir, "*.json"))
	if err != nil {
		return fmt.Errorf("failed to list policy files: %w", err)
	}
	// Warnings are listed only for a document that also has errors.
	var report strings.Builder
	for _, file := range files {
		var findings strings.Builder
		ok, err := validatePolicyFile(file, r.conf.Limits, &findings)
		if err != nil {
			fmt.Fprintf(&report, "%s: %v\n", file, err)
		} else if !ok {
			report.WriteString(findings.String())
		}
	}
	if report.Len() == 0 {
		return nil
	}
	return fmt.Errorf("invalid policy documents in %s:\n%s", dir, strings.TrimRight(report.String(), "\n"))
}

// addSuiteData appends the suite's principals, groups, memberships, grants
// and servers to data.
func addSuiteData(data *evaluator.Data, suite *policySuite) error {
	groups := make(map[string]bool, len(data.Groups))
	for _, g := range data.Groups {
		groups[g.ID] = true
	}
	for _, u := range suite.Principals {
		data.Users = append(data.Users, evaluator.User{ID: u.ID, Name: u.Name, DomainID: u.DomainID, DomainName: u.DomainName, Root: u.Root})
		for _, g := range u.Groups {
			if !groups[g] {
				groups[g] = true
				data.Groups = append(data.Groups, evaluator.Group{ID: g, Name: g, DomainID: u.DomainID})
			}
			data.Memberships = append(data.Memberships, evaluator.Membership{GroupID: g, UserID: u.ID})
		}
	}

	var errs []error
	for i, g := range suite.Grants {
		scope, err := store.ParseScope(g.Scope)
		if err != nil {
			errs = append(errs, fmt.Errorf("grants[%d].scope: %w", i, err))
			continue
		}
		data.Grants = append(data.Grants, evaluator.Grant{
			Policy: g.Policy, GroupID: g.Group, UserID: g.User, Scope: scope, ScopeID: g.ScopeID,
			Source: fmt.Sprintf("test suite grants[%d]", i),
		})
	}
	for _, s := range suite.Servers {
		ep := s.EnterpriseProjectID
		if ep == "" {
			ep = store.DefaultEnterpriseProject
		}
		data.Servers = append(data.Servers, evaluator.Server{ID: s.ID, ProjectID: s.ProjectID, EnterpriseProjectID: ep, Tags: s.Tags})
	}
	return errors.Join(errs...)
}

// runCase decides one case and compares the decision with the
// expectation.
func (r *suiteRunner) runCase(engine *evaluator.Engine, data *evaluator.Data, c *suiteCase, result caseResult) caseResult {
	d, err := r.decideCase(engine, data, c)
	if err != nil {
		result.got, result.detail = "error", err.Error()
		return result
	}

	result.got = outcomeString(d.Allowed, string(d.Reason), d.Action)
	var mismatches []string
	if c.Expect.Allowed != nil && *c.Expect.Allowed != d.Allowed {
		mismatches = append(mismatches, fmt.Sprintf("allowed: expected %t, got %t", *c.Expect.Allowed, d.Allowed))
	}
	if c.Expect.Reason != "" && c.Expect.Reason != string(d.Reason) {
		mismatches = append(mismatches, fmt.Sprintf("reason: expected %s, got %s", c.Expect.Reason, d.Reason))
	}
	if c.Expect.Action != "" && c.Expect.Action != d.Action {
		mismatches = append(mismatches, fmt.Sprintf("action: expected %s, got %q", c.Expect.Action, d.Action))
	}
	result.passed = len(mismatches) == 0
	if !result.passed {
		result.detail = strings.Join(mismatches, "; ")
		if d.Policy != "" {
			result.detail += fmt.Sprintf(" (decided by policy %q statement %d)", d.Policy, d.Statement)
		}
	}
	return result
}

func (r *suiteRunner) decideCase(engine *evaluator.Engine, data *evaluator.Data, c *suiteCase) (evaluator.Decision, error) {
	var d evaluator.Decision
	if c.Expect.Allowed == nil {
		return d, errors.New("expect.allowed: missing")
	}
	user := findUser(data, c.Principal)
	if user == nil {
		return d, fmt.Errorf("principal %q: no such user in the policy directory or the suite", c.Principal)
	}
	req := evaluator.Request{
		Principal: evaluator.Principal{
			UserID: user.ID, UserName: user.Name, DomainID: user.DomainID, DomainName: user.DomainName,
			MFAPresent: c.MFAPresent, MFAAge: -1,
		},
		Region:      r.conf.Region,
		Time:        c.Time,
		RequestTags: c.RequestTags,
	}
	if req.Time.IsZero() {
		req.Time = time.Now()
	}
	if c.SourceIP != "" {
		addr, err := netip.ParseAddr(c.SourceIP)
		if err != nil {
			return d, fmt.Errorf("source_ip: invalid IP address %q", c.SourceIP)
		}
		req.SourceIP = addr
	}

	if len(c.Actions) > 0 {
		return d, r.decideActions(engine, c, &req, &d)
	}
	res, reason, err := r.resolveRequest(c)
	if err != nil {
		return d, err
	}
	if reason != "" {
		return evaluator.Decision{Reason: reason, Statement: -1}, nil
	}
	req.Resolution = res
	req.Principal.ProjectID = res.ProjectID
	engine.Decide(&req, &d)
	return d, nil
}

// resolveRequest returns the resolution of a request case, or the denial
// reason of a request that does not resolve. An error means the case
// itself is malformed.
func (r *suiteRunner) resolveRequest(c *suiteCase) (*catalog.Resolution, evaluator.Reason, error) {
	if c.Request == nil {
		return nil, "", errors.New("missing request or actions")
	}
	var body []byte
	if c.Request.Body != "" {
		body = []byte(c.Request.Body)
	}
	res := &catalog.Resolution{}
	err := r.catalog.Resolve(&catalog.Request{
		Method: c.Request.Method, Target: c.Request.Path, Body: body, BodyTruncated: c.Request.BodyTruncated,
	}, res)
	if err != nil {
		return nil, catalogReason(err), nil
	}
	return res, "", nil
}

// decideActions decides an action case the way the CheckActions RPC does.
// A server id becomes the instance URN of the server in the principal's
// domain, and it or an enterprise project makes enterprise-project grants
// apply.
func (r *suiteRunner) decideActions(engine *evaluator.Engine, c *suiteCase, req *evaluator.Request, d *evaluator.Decision) error {
	switch {
	case c.Request != nil:
		return errors.New("set either request or actions, not both")
	case c.ProjectID == "":
		return errors.New("project_id: missing for an action case")
	}
	in := evaluator.ActionsRequest{
		Principal:                  req.Principal,
		Actions:                    c.Actions,
		ProjectID:                  c.ProjectID,
		EnterpriseProjectID:        c.EnterpriseProjectID,
		EnterpriseProjectSupported: c.EnterpriseProjectID != "" || c.ServerID != "",
		Region:                     req.Region,
		SourceIP:                   req.SourceIP,
		Time:                       req.Time,
		RequestTags:                req.RequestTags,
	}
	in.Principal.ProjectID = c.ProjectID
	if c.ServerID != "" {
		in.Resource = "ecs:" + req.Region + ":" + req.Principal.DomainID + ":instance:" + c.ServerID
	}
	engine.DecideActions(&in, d)
	return nil
}

func catalogReason(err error) evaluator.Reason {
	switch {
	case errors.Is(err, catalog.ErrUnknownRoute):
		return evaluator.ReasonUnknownRoute
	case errors.Is(err, catalog.ErrInvalidPath):
		return evaluator.ReasonInvalidPath
	case errors.Is(err, catalog.ErrBodyRequired):
		return evaluator.ReasonBodyRequired
	case errors.Is(err, catalog.ErrBodyTruncated):
		return evaluator.ReasonBodyTruncated
	default:
		return evaluator.ReasonInvalidRequest
	}
}

func findUser(data *evaluator.Data, id string) *evaluator.User {
	for i := range data.Users {
		if data.Users[i].ID == id {
			return &data.Users[i]
		}
	}
	return nil
}

func (e suiteExpect) String() string {
	if e.Allowed == nil {
		return "?"
	}
	return outcomeString(*e.Allowed, e.Reason, e.Action)
}

// outcomeString formats an outcome as "allow", "deny" or "deny
// explicit_deny ecs:cloudServers:delete", leaving out empty parts.
func outcomeString(allowed bool, reason, action string) string {
	parts := []string{"deny"}
	if allowed {
		parts[0] = "allow"
	}
	if reason != "" {
		parts = append(parts, reason)
	}
	if action != "" {
		parts = append(parts, action)
	}
	return strings.Join(parts, " ")
}

// printResults prints the result table, the details of each failure and
// the final "N passed, N failed" line, and returns the exit code.
func printResults(stdout io.Writer, results []caseResult) int {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SUITE\tCASE\tEXPECTED\tGOT\tRESULT")
	passed, failed := 0, 0
	for _, r := range results {
		verdict := "PASS"
		if r.passed {
			passed++
		} else {
			verdict = "FAIL"
			failed++
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.suite, r.name, r.expected, r.got, verdict)
	}
	tw.Flush()

	for _, r := range results {
		if !r.passed && r.detail != "" {
			fmt.Fprintf(stdout, "\nFAIL %s: %s\n    %s\n", r.suite, r.name, strings.ReplaceAll(r.detail, "\n", "\n    "))
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if failed > 0 {
		return 1
	}
	return 0
}
