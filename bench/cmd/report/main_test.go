package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		values []float64
		want   float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.values); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.values, got, tt.want)
		}
	}
}

func TestReportTargets(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		`{"server":"noop","round":1,"concurrency":32,"rps":30000,"latency":{"p99_us":1000},"server_cpu_us_per_check":30}`,
		`{"server":"noop","round":2,"concurrency":32,"rps":20000,"latency":{"p99_us":3000},"server_cpu_us_per_check":40}`,
		`{"server":"noop","round":3,"concurrency":32,"rps":28000,"latency":{"p99_us":1200},"server_cpu_us_per_check":32}`,
		`{"server":"ecsauthz","round":1,"concurrency":32,"rps":27000,"latency":{"p99_us":1400},"server_cpu_us_per_check":36}`,
		`{"server":"rego","round":1,"concurrency":32,"rps":2000,"latency":{"p99_us":20000},"server_cpu_us_per_check":440}`,
	}
	path := filepath.Join(dir, "raw.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	samples, err := readSamples(path)
	if err != nil {
		t.Fatalf("readSamples: %v", err)
	}
	summaries := summarize(samples)
	noop := summaries[key{noopName, 32}]
	if noop.rounds != 3 || noop.rps != 28000 || noop.p99 != 1200 || noop.cpu != 32 {
		t.Errorf("noop summary = %+v, want 3 rounds, rps 28000, p99 1200, cpu 32", noop)
	}

	var out bytes.Buffer
	printTargets(&out, summaries)
	for _, want := range []string{
		"throughput ÷ noop: 0.964 (target >= 0.850): met",
		"p99 ÷ noop: 1.167 (target <= 1.250): met",
		"CPU per check ÷ noop: 1.125 (target <= 1.250): met",
		"throughput ÷ rego: 13.500 (target >= 10.000): met",
		"p99 ÷ rego: 0.070 (target <= 0.100): met",
		"CPU per check ÷ rego: 0.082 (target <= 0.100): met",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printTargets output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestReadSamplesErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.jsonl")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readSamples(empty); err == nil || !strings.Contains(err.Error(), "contains no results") {
		t.Errorf("readSamples(empty) error = %v, want a no-results error", err)
	}
	broken := filepath.Join(dir, "broken.jsonl")
	if err := os.WriteFile(broken, []byte("{\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readSamples(broken); err == nil || !strings.Contains(err.Error(), "broken.jsonl:1: invalid result line") {
		t.Errorf("readSamples(broken) error = %v, want a line-numbered error", err)
	}
}
