package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

const policyUsage = `Usage:
  ecsauthz policy test [--store DIR] [--region NAME] [--run SUBSTRING] PATH...
  ecsauthz policy validate FILE...

test runs the YAML test suites in each PATH (a *.yaml file, or a directory
whose *.yaml files are read, not recursively) against a policy directory in
the file-store layout. It prints one table row per case and a final line
"N passed, N failed", and exits 1 when a case fails or a policy is invalid.

validate checks policy documents (bare IAM JSON or the {"name",
"description","policy"} wrapper) and prints each problem as
FILE:LINE: LOCATION: MESSAGE. Warnings do not fail the check.
`

// runPolicy runs "ecsauthz policy test|validate" and returns the exit code:
// 0 on success, 1 on failed cases or invalid policies, 2 on usage errors.
func runPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	switch args[0] {
	case "test":
		return runPolicyTest(ctx, args[1:], stdout, stderr)
	case "validate":
		return runPolicyValidate(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, policyUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "ecsauthz policy: unknown subcommand %q\n\n%s", args[0], policyUsage)
		return 2
	}
}

// limitsFlags registers the policy size limit flags on fs, with Huawei
// IAM's defaults.
func limitsFlags(fs *flag.FlagSet) *evaluator.Limits {
	limits := evaluator.DefaultLimits()
	fs.IntVar(&limits.Statements, "max-statements", limits.Statements, "maximum `number` of statements per policy")
	fs.IntVar(&limits.ActionsPerStatement, "max-actions", limits.ActionsPerStatement, "maximum `number` of actions per statement")
	fs.IntVar(&limits.ResourcesPerStatement, "max-resources", limits.ResourcesPerStatement, "maximum `number` of resources per statement")
	fs.IntVar(&limits.Conditions, "max-conditions", limits.Conditions, "maximum `number` of conditions per statement")
	fs.IntVar(&limits.DocumentChars, "max-document-chars", limits.DocumentChars, "maximum policy document length in `characters`")
	return &limits
}

func runPolicyValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz policy validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	limits := limitsFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "ecsauthz policy validate: name at least one policy file\n\n"+policyUsage)
		return 2
	}

	invalid := 0
	for _, file := range fs.Args() {
		ok, err := validatePolicyFile(file, *limits, stdout)
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", file, err)
		}
		if !ok || err != nil {
			invalid++
		}
	}
	fmt.Fprintf(stdout, "%s checked, %d invalid\n", count(fs.NArg(), "file", "files"), invalid)
	if invalid > 0 {
		return 1
	}
	return 0
}

// validatePolicyFile prints every problem of one policy file and returns
// whether the file has no errors. A file that cannot be read or is not a
// policy file returns an error.
func validatePolicyFile(file string, limits evaluator.Limits, stdout io.Writer) (bool, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return false, fmt.Errorf("failed to read policy file: %w", err)
	}
	name, doc, docPath, err := splitPolicyFile(file, src)
	if err != nil {
		return false, err
	}

	ok := true
	for _, p := range evaluator.CheckPolicy(name, doc, limits) {
		line := locateProblemLine(src, docPath, p.Location)
		fmt.Fprintf(stdout, "%s:%d: %s\n", file, line, p.String())
		if !p.Warning {
			ok = false
		}
	}
	return ok, nil
}

// policyWrapper is the wrapped form of a policy file, which names the
// policy itself instead of taking the file name.
type policyWrapper struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Policy      json.RawMessage `json:"policy"`
}

// splitPolicyFile returns the policy name, the document and the JSON path
// of the document inside src: empty for a bare document, "policy" for a
// wrapper. A bare document is named after the file without ".json".
func splitPolicyFile(file string, src []byte) (name string, doc []byte, docPath []string, err error) {
	var probe map[string]json.RawMessage
	if err := json.Unmarshal(src, &probe); err != nil {
		return "", nil, nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, wrapped := probe["policy"]; !wrapped {
		return strings.TrimSuffix(filepath.Base(file), filepath.Ext(file)), src, nil, nil
	}

	var w policyWrapper
	if err := json.Unmarshal(src, &w); err != nil {
		return "", nil, nil, fmt.Errorf("invalid policy wrapper: %w", err)
	}
	if w.Name == "" {
		return "", nil, nil, errors.New(`invalid policy wrapper: "name" is missing`)
	}
	return w.Name, w.Policy, []string{"policy"}, nil
}
