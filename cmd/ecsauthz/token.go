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
	ttl := fs.Duration("ttl", 0, "token lifetime from now, e.g. 1h (default: expire on 2036-01-01)")
	key := fs.String("key", "examples/jwks/private.jwk.json", "example private JWK `file` that signs the token")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ecsauthz token -user USER_ID [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Prints a JWT for an example user, signed with the example key (examples only).")
		fmt.Fprintln(stderr, "Send it as \"Authorization: Bearer <token>\". Flags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *user == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
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
	if *ttl > 0 {
		now := time.Now().Truncate(time.Second)
		claims.IssuedAt, claims.AuthTime, claims.Expiry = now, now, now.Add(*ttl)
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
