// Command client is a small example of the ecsauthz direct gRPC API. It checks
// whether a user may perform actions, resolves an HTTP request to its
// catalog route, and lists the routes the user may call.
//
// Start the server, then run for example:
//
//	go run ./examples/client -user u-0002 -action ecs:cloudServers:list -action ecs:cloudServers:delete
//
// The server must be reachable without TLS; this example is for a local
// server on 127.0.0.1.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
)

// actionList collects repeated -action flags.
type actionList []string

func (a *actionList) String() string     { return strings.Join(*a, ",") }
func (a *actionList) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:9191", "gRPC `address` of the ecsauthz server")
	user := flag.String("user", "u-0002", "user `id` to check")
	project := flag.String("project", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "project `id` to check in")
	timeout := flag.Duration("timeout", 5*time.Second, "timeout of the whole run")
	var actions actionList
	flag.Var(&actions, "action", "IAM `action` to check; repeat for several (default ecs:cloudServers:list)")
	flag.Parse()
	if len(actions) == 0 {
		actions = actionList{"ecs:cloudServers:list"}
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	conn, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fmt.Fprintf(os.Stderr, "failed to create client for %s: %v\n", *addr, err)
		os.Exit(1)
	}
	defer conn.Close()

	client := ecsauthzv1.NewAuthorizationServiceClient(conn)
	if err := run(ctx, client, *user, *project, actions, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// run makes the three example calls and prints their results.
func run(ctx context.Context, client ecsauthzv1.AuthorizationServiceClient, user, project string, actions []string, out io.Writer) error {
	principal := &ecsauthzv1.Principal{Identity: &ecsauthzv1.Principal_UserId{UserId: user}}

	// CheckActions: may the user perform these actions in the project?
	check, err := client.CheckActions(ctx, &ecsauthzv1.CheckActionsRequest{
		Principal: principal,
		Actions:   actions,
		ProjectId: project,
	})
	if err != nil {
		return fmt.Errorf("CheckActions failed: %w", err)
	}
	d := check.GetDecision()
	fmt.Fprintf(out, "CheckActions: allowed=%t reason=%s denied_action=%q decision_id=%s\n",
		d.GetAllowed(), d.GetReason(), d.GetDeniedAction(), d.GetDecisionId())
	for _, o := range d.GetOutcomes() {
		fmt.Fprintf(out, "  %-40s allowed=%t reason=%s\n", o.GetAction(), o.GetAllowed(), o.GetReason())
	}

	// ResolveRoute: which actions does an HTTP request need?
	target := "/v1/" + project + "/cloudservers/action"
	resolved, err := client.ResolveRoute(ctx, &ecsauthzv1.ResolveRouteRequest{
		Method: "POST",
		Path:   target,
		Body:   []byte(`{"reboot":{"type":"SOFT","servers":[{"id":"s-0001"}]}}`),
	})
	if err != nil {
		return fmt.Errorf("ResolveRoute failed: %w", err)
	}
	fmt.Fprintf(out, "ResolveRoute POST %s: route=%s actions=", target, resolved.GetRoute().GetPath())
	for i, a := range resolved.GetActions() {
		if i > 0 {
			fmt.Fprint(out, ",")
		}
		fmt.Fprint(out, a.GetName())
	}
	fmt.Fprintln(out)

	// ListAllowedApis: which routes may the user call?
	allowed, err := client.ListAllowedApis(ctx, &ecsauthzv1.ListAllowedApisRequest{Principal: principal, ProjectId: project})
	if err != nil {
		return fmt.Errorf("ListAllowedApis failed: %w", err)
	}
	fmt.Fprintf(out, "ListAllowedApis: %d routes allowed\n", len(allowed.GetApis()))
	for _, api := range allowed.GetApis() {
		fmt.Fprintf(out, "  %-6s %s\n", api.GetRoute().GetMethod(), api.GetRoute().GetPath())
	}
	return nil
}
