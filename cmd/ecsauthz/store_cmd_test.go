package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store"
	"github.com/ecsauthz/ecsauthz/store/storetest"
)

const examplePolicies = "../../examples/policies"

func runStoreArgs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runStore(context.Background(), args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestStoreCommandUsage(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		inStderr string
	}{
		{nil, 2, "Usage:"},
		{[]string{"bogus"}, 2, `unknown subcommand "bogus"`},
		{[]string{"migrate"}, 2, "--dsn is required"},
		{[]string{"migrate", "--dsn", "x", "extra"}, 2, `unexpected argument "extra"`},
		{[]string{"import", "--dsn", "x"}, 2, "want exactly one DIR argument, got 0"},
		{[]string{"import", "dir"}, 2, "set exactly one of --dsn and --etcd-endpoints"},
		{[]string{"export", "dir", "--dsn", "x", "--etcd-endpoints", "http://127.0.0.1:1"}, 2, "set exactly one"},
		{[]string{"import", "/nonexistent", "--dsn", "postgres://127.0.0.1:1/x"}, 1, "invalid file store /nonexistent"},
	}
	for _, tt := range tests {
		code, _, stderr := runStoreArgs(t, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.inStderr) {
			t.Errorf("store %q = exit %d, stderr %q; want exit %d, stderr containing %q",
				tt.args, code, stderr, tt.code, tt.inStderr)
		}
	}
}

// exampleData is the example store as the file store reads it.
func exampleData(t *testing.T, dir string) *evaluator.Data {
	t.Helper()
	snap, err := store.NewFileStore(dir).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Data
}

var sameContent = cmp.Options{
	cmpopts.IgnoreFields(evaluator.Policy{}, "Source"),
	cmpopts.IgnoreFields(evaluator.Grant{}, "Source"),
	cmpopts.EquateEmpty(),
}

// checkRoundTrip imports the example store with the backend flags, exports
// it again and compares the two.
func checkRoundTrip(t *testing.T, backend ...string) {
	t.Helper()
	code, stdout, stderr := runStoreArgs(t, append([]string{"import", examplePolicies}, backend...)...)
	if code != 0 {
		t.Fatalf("import: exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, "imported 1 policy, 6 users, 4 groups, 4 memberships, 5 grants, 3 servers") {
		t.Errorf("import output = %q", stdout)
	}

	out := filepath.Join(t.TempDir(), "export")
	code, stdout, stderr = runStoreArgs(t, append(append([]string{"export"}, backend...), out)...)
	if code != 0 {
		t.Fatalf("export: exit %d, stderr %s", code, stderr)
	}
	if !strings.Contains(stdout, "exported 1 policy") {
		t.Errorf("export output = %q", stdout)
	}
	if diff := cmp.Diff(exampleData(t, examplePolicies), exampleData(t, out), sameContent); diff != "" {
		t.Errorf("export differs from the import (-import +export):\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(out, "policies", "deny-server-delete.json")); err != nil {
		t.Errorf("exported policy file: %v", err)
	}

	// A second export into the same directory is rejected.
	if code, _, stderr := runStoreArgs(t, append(append([]string{"export"}, backend...), out)...); code != 1 || !strings.Contains(stderr, "not empty") {
		t.Errorf("export into a non-empty directory = exit %d, stderr %q", code, stderr)
	}
}

func TestStoreCommandPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	code, stdout, stderr := runStoreArgs(t, "migrate", "--dsn", dsn)
	if code != 0 || !strings.Contains(stdout, "applied migrations [1]") {
		t.Fatalf("migrate = exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	code, stdout, _ = runStoreArgs(t, "migrate", "--dsn", dsn)
	if code != 0 || !strings.Contains(stdout, "up to date") {
		t.Errorf("second migrate = exit %d, stdout %q", code, stdout)
	}
	checkRoundTrip(t, "--dsn", dsn)
}

func TestStoreCommandEtcd(t *testing.T) {
	srv := storetest.StartEtcd(t)
	checkRoundTrip(t, "--etcd-endpoints", strings.Join(srv.Endpoints(), ","), "--prefix", "/cmdtest/")
}

func TestStoreCommandRejectsInvalidImport(t *testing.T) {
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(examplePolicies)); err != nil {
		t.Fatal(err)
	}
	bad := `{"Version": "1.1", "Statement": [{"Effect": "Maybe", "Action": ["ecs:*:*"]}]}`
	if err := os.WriteFile(filepath.Join(dir, "policies", "bad.json"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	srv := storetest.StartEtcd(t)
	code, _, stderr := runStoreArgs(t, "import", dir, "--etcd-endpoints", srv.Endpoints()[0])
	if code != 1 || !strings.Contains(stderr, "bad.json:1:") || !strings.Contains(stderr, "Effect") {
		t.Errorf("import of an invalid policy = exit %d, stderr %q; want exit 1 naming bad.json:1 and Effect", code, stderr)
	}
}
