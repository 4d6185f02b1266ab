package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
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
	tests := []struct {
		name        string
		args        []string
		wantProblem string
	}{
		{"no arguments", []string{"check"}, "ecsauthz check: missing -request FILE, or -method, -path and -user\n"},
		{"method only", []string{"check", "-method", "GET"}, "ecsauthz check: missing -path, -user\n"},
		{"no user", []string{"check", "-method", "GET", "-path", "/v1/p/cloudservers/detail"}, "ecsauthz check: missing -user\n"},
		{"request and user", []string{"check", "-request", "x.json", "-user", "u-0001"}, "ecsauthz check: -request cannot be combined with -user:"},
		{"request and body", []string{"check", "-request", "x.json", "-body", "{}"}, "ecsauthz check: -body applies only with -method, -path and -user"},
		{"extra argument", []string{"check", "-request", "x.json", "extra"}, `ecsauthz check: unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runCommand(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if !strings.HasPrefix(stderr, tt.wantProblem) {
				t.Errorf("stderr does not start with %q:\n%s", tt.wantProblem, stderr)
			}
			if !strings.Contains(stderr, "Usage: ecsauthz check") {
				t.Errorf("stderr lacks the short usage:\n%s", stderr)
			}
			if strings.Contains(stderr, "-grpc-address") || strings.Contains(stderr, "-store-dir") {
				t.Errorf("stderr lists flags, want only the short usage:\n%s", stderr)
			}
		})
	}
}

func TestCheckCommandHelpListsOfflineFlags(t *testing.T) {
	code, _, stderr := runCommand(t, "check", "-h")
	if code != exitUsage {
		t.Errorf("exit code = %d, want %d", code, exitUsage)
	}
	for _, flag := range []string{"-request", "-method", "-path", "-user", "-body", "-config", "-store-dir", "-store-backend", "-catalog-dir", "-identity-jwt-jwks-file", "-evaluator-region"} {
		if !strings.Contains(stderr, "  "+flag+" ") && !strings.Contains(stderr, "  "+flag+"\n") {
			t.Errorf("help does not list %s", flag)
		}
	}
	for _, flag := range []string{"-grpc-address", "-http-address", "-http-pprof", "-log-level", "-tracing-enabled", "-admin-listen", "-shutdown-timeout", "-store-debounce"} {
		if strings.Contains(stderr, "  "+flag+" ") || strings.Contains(stderr, "  "+flag+"\n") {
			t.Errorf("help lists %s, which does not affect an offline check", flag)
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

func TestTokenCommandUsageErrors(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantProblem string
	}{
		{"no user", []string{"token"}, "ecsauthz token: missing -user"},
		{"empty project", []string{"token", "-user", "u-0001", "-project", ""}, "ecsauthz token: -project is empty"},
		{"project name without project", []string{"token", "-user", "u-0001", "-project-name", "x"}, "ecsauthz token: -project-name needs -project"},
		{"zero ttl", []string{"token", "-user", "u-0001", "-ttl", "0s"}, "ecsauthz token: -ttl is 0"},
		{"extra argument", []string{"token", "-user", "u-0001", "extra"}, `ecsauthz token: unexpected argument "extra"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, tt.args...)
			if code != exitUsage {
				t.Errorf("exit code = %d, want %d", code, exitUsage)
			}
			if stdout != "" {
				t.Errorf("stdout = %q, want no token", stdout)
			}
			if !strings.HasPrefix(stderr, tt.wantProblem) {
				t.Errorf("stderr does not start with %q:\n%s", tt.wantProblem, stderr)
			}
		})
	}
}

func TestTokenCommandTTL(t *testing.T) {
	tests := []struct {
		name        string
		ttl         string
		wantExpired bool
	}{
		{"positive", "1h", false},
		{"negative mints an expired token", "-1h", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runCommand(t, "token", "-user", "u-0001", "-ttl", tt.ttl)
			if code != 0 {
				t.Fatalf("exit code = %d; stderr %s", code, stderr)
			}
			parts := strings.Split(strings.TrimSpace(stdout), ".")
			if len(parts) != 3 {
				t.Fatalf("token %q has %d parts, want 3", stdout, len(parts))
			}
			payload, err := base64.RawURLEncoding.DecodeString(parts[1])
			if err != nil {
				t.Fatalf("decode payload: %v", err)
			}
			var claims struct {
				IssuedAt int64 `json:"iat"`
				Expiry   int64 `json:"exp"`
			}
			if err := json.Unmarshal(payload, &claims); err != nil {
				t.Fatalf("parse payload %s: %v", payload, err)
			}
			now := time.Now().Unix()
			if expired := claims.Expiry < now; expired != tt.wantExpired {
				t.Errorf("exp = %d, now = %d: expired = %v, want %v", claims.Expiry, now, expired, tt.wantExpired)
			}
			if claims.IssuedAt >= claims.Expiry {
				t.Errorf("iat = %d is not before exp = %d", claims.IssuedAt, claims.Expiry)
			}
		})
	}
}

func TestCount(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{
		{0, "0 files"},
		{1, "1 file"},
		{2, "2 files"},
	}
	for _, tt := range tests {
		if got := count(tt.n, "file", "files"); got != tt.want {
			t.Errorf("count(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
