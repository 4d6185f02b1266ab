package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ecsauthz/ecsauthz/identity"
)

const tokenUsage = "Usage: ecsauthz token -user USER_ID [flags]"

// runToken mints an example token for one of the example users and prints
// it. The key is the published example key: such tokens prove nothing
// outside examples and tests.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	user := fs.String("user", "", "example user id, u-0000 to u-0005 (required)")
	project := fs.String("project", "", "project id claim (default: the example project "+identity.ExampleProjectID+")")
	projectName := fs.String("project-name", "", "project name claim, with -project")
	mfa := fs.Bool("mfa", false, `add "mfa" to the amr claim`)
	ttl := fs.Duration("ttl", 0, "token lifetime from now, e.g. 1h; a negative value such as -1h mints a token that has already expired, for testing (default: expire on 2036-01-01)")
	key := fs.String("key", "examples/jwks/private.jwk.json", "example private JWK `file` that signs the token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, tokenUsage)
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Prints a JWT for an example user, signed with the example key (examples only).")
		fmt.Fprintln(stderr, "Send it as \"Authorization: Bearer <token>\". Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case fs.NArg() > 0:
		return usageError(stderr, "ecsauthz token", fmt.Sprintf("unexpected argument %q", fs.Arg(0)), tokenUsage)
	case *user == "":
		return usageError(stderr, "ecsauthz token", "missing -user: name an example user, u-0000 to u-0005", tokenUsage)
	case set["project"] && *project == "":
		return usageError(stderr, "ecsauthz token", "-project is empty: name a project id or leave the flag out for the example project", tokenUsage)
	case set["project-name"] && *project == "":
		return usageError(stderr, "ecsauthz token", "-project-name needs -project", tokenUsage)
	case set["ttl"] && *ttl == 0:
		return usageError(stderr, "ecsauthz token", "-ttl is 0: give a lifetime such as 1h, a negative one such as -1h for an expired token, or leave the flag out", tokenUsage)
	}

	claims, ok := identity.ExampleClaimsFor(*user)
	if !ok {
		fmt.Fprintf(stderr, "ecsauthz token: unknown example user %q: use u-0000 to u-0005\n", *user)
		return 2
	}
	if *project != "" {
		claims.ProjectID, claims.ProjectName = *project, *projectName
	}
	claims.MFA = *mfa
	if set["ttl"] {
		// A negative lifetime yields an expired token: issued 2*|ttl| ago
		// and expired |ttl| ago, so iat stays before exp.
		now := time.Now().Truncate(time.Second)
		issued := now
		if *ttl < 0 {
			issued = now.Add(2 * *ttl)
		}
		claims.IssuedAt, claims.AuthTime, claims.Expiry = issued, issued, now.Add(*ttl)
	}

	privateJWK, err := os.ReadFile(*key)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz token: failed to read the example private key: %v (run from the repository root or set -key)\n", err)
		return 1
	}
	token, err := identity.MintExampleToken(privateJWK, claims)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz token: %v\n", err)
		return 1
	}
	fmt.Fprintln(stdout, token)
	return 0
}
