package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/envoy"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/server"
)

// Exit codes of "ecsauthz check".
const (
	exitAllowed = 0
	exitFailed  = 1
	exitUsage   = 2
	exitDenied  = 3
)

// checkOutput is the decision JSON that "ecsauthz check" prints.
type checkOutput struct {
	Allowed      bool     `json:"allowed"`
	Reason       string   `json:"reason"`
	DeniedAction string   `json:"denied_action,omitempty"`
	Actions      []string `json:"actions"`
	Route        string   `json:"route,omitempty"`
	UserID       string   `json:"user_id,omitempty"`
	Policy       string   `json:"policy,omitempty"`
	Statement    *int     `json:"statement,omitempty"`
	// GrantedEnterpriseProjects is set for all_granted_eps list requests.
	GrantedEnterpriseProjects []string `json:"granted_enterprise_projects,omitempty"`
	DecisionID                string   `json:"decision_id"`
	// Error explains a denial that no policy decided, such as a bad token.
	Error string `json:"error,omitempty"`
}

// runCheck decides one request offline against the configured policy store
// and prints the decision as JSON.
func runCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz check", flag.ContinueOnError)
	fs.SetOutput(stderr)
	requestFile := fs.String("request", "", "CheckRequest protojson `file`, as Envoy sends it (use - for standard input)")
	method := fs.String("method", "", "HTTP method, with -path and -user")
	path := fs.String("path", "", "request target with query, e.g. /v1/PROJECT/cloudservers/detail?limit=25")
	user := fs.String("user", "", "user id of the caller, looked up in the policy store")
	body := fs.String("body", "", "request body (JSON)")
	flags := server.NewConfigFlags(fs)
	fs.Usage = func() {
		printCheckUsage(stderr)
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Decides one request against the policy store without a server and prints")
		fmt.Fprintln(stderr, "the decision as JSON. Exit status: 0 allowed, 3 denied, 1 failure, 2 usage error.")
		fmt.Fprintln(stderr, "With -request, the caller is identified from the request's credentials.")
		fmt.Fprintln(stderr, "With -user, the caller is taken as given. Flags:")
		printFlags(stderr, fs, isCheckFlag)
		fmt.Fprintln(stderr, "The other flags of \"ecsauthz serve\" are accepted but do not affect a check.")
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if problem := checkArgsProblem(fs, *requestFile, *method, *path, *user, *body); problem != "" {
		return usageError(stderr, "ecsauthz check", problem, checkUsage...)
	}

	conf, err := flags.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz check: %v\n", err)
		return exitUsage
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	offline, err := server.NewOffline(ctx, conf, logger)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz check: %v\n", err)
		return exitFailed
	}

	defer offline.Close()

	var outcome server.Outcome
	if *requestFile != "" {
		err = checkRequestFile(ctx, offline, *requestFile, &outcome)
	} else {
		err = checkFlags(ctx, offline, *method, *path, *user, *body, &outcome)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz check: %v\n", err)
		return exitFailed
	}

	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(newCheckOutput(&outcome)); err != nil {
		fmt.Fprintf(stderr, "ecsauthz check: failed to write decision: %v\n", err)
		return exitFailed
	}
	if outcome.Decision.Allowed {
		return exitAllowed
	}
	return exitDenied
}

var checkUsage = []string{
	"Usage: ecsauthz check -request FILE [flags]",
	"       ecsauthz check -method METHOD -path TARGET -user USER_ID [-body JSON] [flags]",
}

func printCheckUsage(w io.Writer) {
	for _, line := range checkUsage {
		fmt.Fprintln(w, line)
	}
}

// isCheckFlag reports whether a flag matters to an offline check: the
// request flags and the configuration of the catalog, identity sources,
// evaluator and policy store, except the reload settings.
func isCheckFlag(name string) bool {
	switch name {
	case "request", "method", "path", "user", "body", "config", "catalog-dir":
		return true
	case "store-debounce", "store-sync-interval", "store-max-staleness":
		return false // the snapshot is loaded once and never reloaded
	}
	for _, prefix := range []string{"store-", "evaluator-", "identity-"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// checkArgsProblem returns a one-line description of what is wrong with the
// arguments of "ecsauthz check", or "" when they are usable.
func checkArgsProblem(fs *flag.FlagSet, requestFile, method, path, user, body string) string {
	if fs.NArg() > 0 {
		return fmt.Sprintf("unexpected argument %q", fs.Arg(0))
	}
	var provided, missing []string
	for _, f := range []struct{ name, value string }{{"-method", method}, {"-path", path}, {"-user", user}} {
		if f.value != "" {
			provided = append(provided, f.name)
		} else {
			missing = append(missing, f.name)
		}
	}
	switch {
	case requestFile != "" && len(provided) > 0:
		return fmt.Sprintf("-request cannot be combined with %s: give either a request file or -method, -path and -user", strings.Join(provided, ", "))
	case requestFile != "" && body != "":
		return "-body applies only with -method, -path and -user: put the body in the request file"
	case requestFile != "":
		return ""
	case len(provided) == 0:
		return "missing -request FILE, or -method, -path and -user"
	case len(missing) > 0:
		return "missing " + strings.Join(missing, ", ")
	}
	return ""
}

// checkRequestFile decides the CheckRequest in the protojson file at path.
func checkRequestFile(ctx context.Context, offline *server.Offline, path string, out *server.Outcome) error {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return fmt.Errorf("failed to read CheckRequest: %w", err)
	}
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		return fmt.Errorf("failed to parse CheckRequest %s: %w", path, err)
	}

	var parsed envoy.Request
	if err := envoy.ParseCheckRequest(req, &parsed); err != nil {
		offline.Checker.Reject(ctx, nil, evaluator.ReasonInvalidRequest, err, out)
		return nil
	}
	in := &server.HTTPCheck{
		Method:          parsed.Method,
		Target:          parsed.Target,
		Headers:         &parsed.Headers,
		Body:            parsed.Body,
		BodyTruncated:   parsed.BodyTruncated,
		SourceIP:        parsed.SourceIP,
		SourcePrincipal: parsed.SourcePrincipal,
		JWTAuthn:        parsed.JWTAuthn,
		RequestID:       parsed.RequestID,
	}
	offline.Checker.CheckHTTP(ctx, in, out)
	return nil
}

// checkFlags decides a request given by flags, for a caller named by user
// id. The caller's project is the project in the path.
func checkFlags(ctx context.Context, offline *server.Offline, method, target, userID, body string, out *server.Outcome) error {
	var res catalog.Resolution
	projectID := ""
	if err := offline.Catalog.Resolve(&catalog.Request{Method: method, Target: target, Body: []byte(body)}, &res); err == nil {
		projectID = res.ProjectID
	}
	principal, ok := offline.Principal(userID, projectID)
	if !ok {
		return fmt.Errorf("user %q not found in the policy store: use an id from its users file", userID)
	}

	in := &server.HTTPCheck{
		Method:    strings.ToUpper(method),
		Target:    target,
		Headers:   noHeaders{},
		Principal: &principal,
	}
	if body != "" {
		in.Body = []byte(body)
	}
	offline.Checker.CheckHTTP(ctx, in, out)
	return nil
}

// noHeaders is an empty header set.
type noHeaders struct{}

func (noHeaders) Header(string) (string, int) { return "", 0 }

func newCheckOutput(out *server.Outcome) checkOutput {
	o := checkOutput{
		Allowed:                   out.Decision.Allowed,
		Reason:                    string(out.Decision.Reason),
		DeniedAction:              out.Decision.Action,
		Actions:                   []string{},
		UserID:                    out.Principal.UserID,
		Policy:                    out.Decision.Policy,
		GrantedEnterpriseProjects: out.Decision.GrantedEnterpriseProjects,
		DecisionID:                out.DecisionID,
	}
	for _, a := range out.Actions {
		o.Actions = append(o.Actions, a.Name)
	}
	if out.Route != nil {
		o.Route = out.Route.Method + " " + out.Route.Path
	}
	if out.Decision.Policy != "" {
		statement := out.Decision.Statement
		o.Statement = &statement
	}
	if out.Err != nil && !errors.Is(out.Err, context.Canceled) {
		o.Error = out.Err.Error()
	}
	return o
}
