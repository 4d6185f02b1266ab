// Command ecsauthz is an Envoy external authorization server for
// Huawei-Cloud-style ECS APIs, with offline tools for its catalog, policy
// store and policies.
//
// Usage:
//
//	ecsauthz serve   [flags]   run the gRPC Authorization service
//	ecsauthz check   [flags]   decide one request offline and print the decision
//	ecsauthz token   [flags]   mint an example token for an example user
//	ecsauthz version           print the version
//	ecsauthz catalog import|list|lint
//	ecsauthz store   migrate|import|export
//	ecsauthz policy  test|validate
//
// Run "ecsauthz COMMAND -h" for the flags of a command.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand: its entry point and a one-line summary.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"serve", "run the gRPC Authorization service", runServe},
		{"check", "decide one request offline and print the decision as JSON", runCheck},
		{"token", "mint an example token for an example user", runToken},
		{"version", "print the version", runVersion},
		{"catalog", "import, list or lint the route catalog", runCatalog},
		{"store", "migrate, import or export a policy store", runStore},
		{"policy", "test or validate policies", runPolicy},
	}
}

// run dispatches to the subcommand named by args[0] and returns the exit
// code: 0 on success, 1 on failure, 2 on a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		printUsage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "ecsauthz: unknown command %q\n\n", name)
	printUsage(stderr)
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "Usage: ecsauthz COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, `Run "ecsauthz COMMAND -h" for the flags of a command.`)
}
