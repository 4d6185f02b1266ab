package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
)

func runPolicyForTest(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = runPolicy(context.Background(), args, &out, &errOut)
	return code, out.String(), errOut.String()
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestPolicyTestSuites(t *testing.T) {
	tests := []struct {
		name        string
		args        []string
		wantCode    int
		wantSummary string
		wantOutput  []string
	}{
		{
			name:        "passing suites",
			args:        []string{"test", "testdata/policy/pass"},
			wantCode:    0,
			wantSummary: "10 passed, 0 failed",
			wantOutput:  []string{"example_store.yaml", "inline.yaml", "operator delete denied explicitly", "deny explicit_deny ecs:cloudServers:delete"},
		},
		{
			name:        "wrong expectation",
			args:        []string{"test", "testdata/policy/wrong-expectation"},
			wantCode:    1,
			wantSummary: "1 passed, 1 failed",
			wantOutput: []string{
				"FAIL wrong-expectation/suite.yaml: operator deletes servers",
				"allowed: expected true, got false",
				"reason: expected allowed, got explicit_deny",
				`decided by policy "deny-server-delete"`,
			},
		},
		{
			name:        "invalid policy",
			args:        []string{"test", "testdata/policy/invalid-policy/suite.yaml"},
			wantCode:    1,
			wantSummary: "0 passed, 1 failed",
			wantOutput:  []string{"invalid policy", `broken.json:5: policy "broken", Statement[0].Effect`},
		},
		{
			name:        "run filter",
			args:        []string{"test", "--run", "reader cannot", "testdata/policy/pass"},
			wantCode:    0,
			wantSummary: "1 passed, 0 failed",
		},
		{
			name:        "store flag overrides suite",
			args:        []string{"test", "--store", "testdata/policy/invalid-policy/store", "testdata/policy/wrong-expectation"},
			wantCode:    1,
			wantSummary: "0 passed, 2 failed",
			wantOutput:  []string{"broken.json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyForTest(t, tt.args...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			if got := lastLine(stdout); got != tt.wantSummary {
				t.Errorf("last line = %q, want %q", got, tt.wantSummary)
			}
			for _, want := range tt.wantOutput {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestPolicyTestTable(t *testing.T) {
	_, stdout, _ := runPolicyForTest(t, "test", "testdata/policy/wrong-expectation")
	header := regexp.MustCompile(`(?m)^SUITE\s+CASE\s+EXPECTED\s+GOT\s+RESULT$`)
	if !header.MatchString(stdout) {
		t.Errorf("output lacks the table header:\n%s", stdout)
	}
	row := regexp.MustCompile(`(?m)^wrong-expectation/suite\.yaml\s+viewer lists servers\s+allow\s+allow allowed\s+PASS$`)
	if !row.MatchString(stdout) {
		t.Errorf("output lacks the passing row:\n%s", stdout)
	}
	failing := regexp.MustCompile(`(?m)^wrong-expectation/suite\.yaml\s+operator deletes servers\s+allow allowed\s+deny explicit_deny ecs:cloudServers:delete\s+FAIL$`)
	if !failing.MatchString(stdout) {
		t.Errorf("output lacks the failing row:\n%s", stdout)
	}
}

func TestPolicyTestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"no subcommand", nil},
		{"unknown subcommand", []string{"frobnicate"}},
		{"test without paths", []string{"test"}},
		{"missing suite directory", []string{"test", "testdata/policy/no-such-dir"}},
		{"validate without files", []string{"validate"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, stderr := runPolicyForTest(t, tt.args...)
			if code != 2 {
				t.Errorf("exit code = %d, want 2", code)
			}
			if stderr == "" {
				t.Error("stderr is empty, want a usage message")
			}
		})
	}
}

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name       string
		files      []string
		wantCode   int
		wantOutput []string
	}{
		{
			name:       "valid policy",
			files:      []string{"testdata/policy/validate/good.json"},
			wantCode:   0,
			wantOutput: []string{"1 file checked, 0 invalid"},
		},
		{
			name:     "invalid effect with line",
			files:    []string{"testdata/policy/validate/broken.json"},
			wantCode: 1,
			wantOutput: []string{
				`testdata/policy/validate/broken.json:5: policy "broken", Statement[0].Effect`,
				"1 file checked, 1 invalid",
			},
		},
		{
			name:     "wrapper warning only",
			files:    []string{"testdata/policy/validate/wrapped.json"},
			wantCode: 0,
			wantOutput: []string{
				`testdata/policy/validate/wrapped.json:14: warning: policy "wrapped-deny", Statement[1].Condition`,
				"1 file checked, 0 invalid",
			},
		},
		{
			name:       "several files",
			files:      []string{"testdata/policy/validate/good.json", "testdata/policy/validate/broken.json", "testdata/policy/validate/missing.json"},
			wantCode:   1,
			wantOutput: []string{"missing.json: failed to read policy file", "3 files checked, 2 invalid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runPolicyForTest(t, append([]string{"validate"}, tt.files...)...)
			if code != tt.wantCode {
				t.Errorf("exit code = %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, stdout, stderr)
			}
			for _, want := range tt.wantOutput {
				if !strings.Contains(stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, stdout)
				}
			}
		})
	}
}

func TestParseLocationPath(t *testing.T) {
	tests := []struct {
		location string
		want     string
	}{
		{`policy "x"`, ""},
		{`policy "x", Statement[2]`, "Statement [2]"},
		{`policy "x", Statement[2].Action[0]`, "Statement [2] Action [0]"},
		{`policy "x", Statement[0].Condition.StringEquals.g:UserName`, "Statement [0] Condition StringEquals g:UserName"},
	}
	for _, tt := range tests {
		got := strings.Join(parseLocationPath(tt.location), " ")
		if got != tt.want {
			t.Errorf("parseLocationPath(%q) = %q, want %q", tt.location, got, tt.want)
		}
	}
}

// FuzzLocateProblemLine checks that locating a problem never panics and
// always returns a line of the source. Run it with
// go test -fuzz=FuzzLocateProblemLine ./cmd/ecsauthz/
func FuzzLocateProblemLine(f *testing.F) {
	f.Add([]byte(`{"Version":"1.1","Statement":[{"Effect":"Maybe"}]}`), `policy "x", Statement[0].Effect`)
	f.Add([]byte("{\n\"policy\": {\"Statement\": [1, 2, {\"Action\": [\"a\"]}]}\n}"), `policy "x", Statement[2].Action[0]`)
	f.Add([]byte(`[`), `policy "x", Statement[99999999999999999999]`)
	f.Add([]byte(`{"a":`), `policy "x", a.b[`)
	f.Fuzz(func(t *testing.T, src []byte, location string) {
		line := locateProblemLine(src, []string{"policy"}, location)
		maxLine := 1 + strings.Count(string(src), "\n")
		if line < 1 || line > maxLine {
			t.Errorf("line %d outside 1..%d", line, maxLine)
		}
	})
}
