package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

// runCommand runs the CLI from the repository root, where the default
// paths of the example store and keys resolve.
func runCommand(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	t.Chdir(repoRoot)
	var out, errOut bytes.Buffer
	code = run(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestRunDispatch(t *testing.T) {
	tests := []struct {
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{nil, 2, "", "Usage: ecsauthz COMMAND"},
		{[]string{"help"}, 0, "serve", ""},
		{[]string{"no-such-command"}, 2, "", `unknown command "no-such-command"`},
		{[]string{"version"}, 0, "ecsauthz ", ""},
		{[]string{"version", "extra"}, 2, "", "usage: ecsauthz version"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit code = %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if !strings.Contains(stdout, tc.wantStdout) {
				t.Errorf("stdout %q does not contain %q", stdout, tc.wantStdout)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantStderr)
			}
		})
	}
}

func TestCheckCommand(t *testing.T) {
	tests := []struct {
		name         string
		args         []string
		wantCode     int
		wantAllowed  bool
		wantReason   string
		wantDenied   string
		wantRoute    string
		wantActionsN int
	}{
		{
			name:     "request file allowed",
			args:     []string{"check", "-request", "examples/checkrequests/v1-get-allowed-viewer.json"},
			wantCode: exitAllowed, wantAllowed: true, wantReason: "allowed",
			wantRoute: "GET /v1/{project_id}/cloudservers/{server_id}", wantActionsN: 1,
		},
		{
			name:     "request file explicit deny",
			args:     []string{"check", "-request", "examples/checkrequests/v1-delete-denied-bob-explicit.json"},
			wantCode: exitDenied, wantReason: "explicit_deny", wantDenied: "ecs:cloudServers:delete",
			wantRoute: "POST /v1/{project_id}/cloudservers/delete", wantActionsN: 1,
		},
		{
			name:     "flags with eip body",
			args:     []string{"check", "-method", "POST", "-path", "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/cloudservers", "-user", "u-0001", "-body", `{"server":{"publicip":{"eip":{}}}}`},
			wantCode: exitAllowed, wantAllowed: true, wantReason: "allowed",
			wantRoute: "POST /v1/{project_id}/cloudservers", wantActionsN: 2,
		},
		{
			name:     "flags implicit deny",
			args:     []string{"check", "-method", "GET", "-path", "/v1/0a1b2c3d4e5f60718293a4b5c6d7e8f9/cloudservers/detail", "-user", "u-0005"},
			wantCode: exitDenied, wantReason: "implicit_deny", wantDenied: "ecs:cloudServers:list",
			wantRoute: "GET /v1/{project_id}/cloudservers/detail", wantActionsN: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tc.args...)
			if code != tc.wantCode {
				t.Fatalf("exit code = %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			var got checkOutput
			if err := json.Unmarshal([]byte(stdout), &got); err != nil {
				t.Fatalf("output is not decision JSON: %v\n%s", err, stdout)
			}
			if got.Allowed != tc.wantAllowed {
				t.Errorf("allowed = %v, want %v", got.Allowed, tc.wantAllowed)
			}
			if got.Reason != tc.wantReason {
				t.Errorf("reason = %q, want %q", got.Reason, tc.wantReason)
			}
			if got.DeniedAction != tc.wantDenied {
				t.Errorf("denied_action = %q, want %q", got.DeniedAction, tc.wantDenied)
			}
			if got.Route != tc.wantRoute {
				t.Errorf("route = %q, want %q", got.Route, tc.wantRoute)
			}
			if len(got.Actions) != tc.wantActionsN {
				t.Errorf("actions = %v, want %d of them", got.Actions, tc.wantActionsN)
			}
			if got.DecisionID == "" {
				t.Error("decision_id is empty")
			}
		})
	}
}

func TestCheckCommandUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"check"},
		{"check", "-method", "GET"},
		{"check", "-request", "x.json", "-user", "u-0001"},
	} {
		code, _, stderr := runCommand(t, args...)
		if code != exitUsage {
			t.Errorf("%v: exit code = %d, want %d", args, code, exitUsage)
		}
		if !strings.Contains(stderr, "Usage: ecsauthz check") {
			t.Errorf("%v: stderr lacks the usage text: %q", args, stderr)
		}
	}
}

func TestCheckCommandUnknownUser(t *testing.T) {
	code, _, stderr := runCommand(t, "check", "-method", "GET", "-path", "/v1/p/cloudservers/detail", "-user", "u-9999")
	if code != exitFailed {
		t.Errorf("exit code = %d, want %d", code, exitFailed)
	}
	if !strings.Contains(stderr, `user "u-9999" not found`) {
		t.Errorf("stderr %q does not name the unknown user", stderr)
	}
}

func TestTokenCommand(t *testing.T) {
	code, stdout, stderr := runCommand(t, "token", "-user", "u-0001")
	if code != 0 {
		t.Fatalf("exit code = %d; stderr %s", code, stderr)
	}
	if parts := strings.Split(strings.TrimSpace(stdout), "."); len(parts) != 3 {
		t.Errorf("token %q has %d parts, want 3", stdout, len(parts))
	}

	code, _, stderr = runCommand(t, "token", "-user", "u-9999")
	if code != 2 || !strings.Contains(stderr, `unknown example user "u-9999"`) {
		t.Errorf("unknown user: exit code %d, stderr %q; want 2 and the user named", code, stderr)
	}
}
