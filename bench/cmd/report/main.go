// Command report reads the JSON lines that loadgen appends during a runner
// session and prints a Markdown table of per-server medians across rounds,
// with ratios to the noop server and to the Rego peer, and the targets.
//
//	report -in results/<run>/raw.jsonl [-decisions results/<run>/decisions]
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Server names the runner gives the three servers.
const (
	noopName     = "noop"
	productName  = "ecsauthz"
	peerName     = "rego"
	targetsLevel = 32
)

// sample is the part of one loadgen JSON line that the report reads.
type sample struct {
	Server      string  `json:"server"`
	Round       int     `json:"round"`
	Concurrency int     `json:"concurrency"`
	Checks      int64   `json:"checks"`
	Errors      int64   `json:"errors"`
	RPS         float64 `json:"rps"`
	Latency     struct {
		P50  float64 `json:"p50_us"`
		P90  float64 `json:"p90_us"`
		P99  float64 `json:"p99_us"`
		P999 float64 `json:"p999_us"`
	} `json:"latency"`
	CPUPerCheck float64 `json:"server_cpu_us_per_check"`
	PeakRSSKiB  int64   `json:"server_peak_rss_kib"`
	LoadAvg1m   float64 `json:"load_avg_1m"`
	ClientCPU   float64 `json:"client_cpu_share"`
}

// summary is the median of each figure across the rounds of one server at
// one concurrency.
type summary struct {
	rounds                                           int
	rps, p50, p90, p99, p999, cpu, rss, load, client float64
	errors                                           int64
}

type key struct {
	server      string
	concurrency int
}

func main() {
	in := flag.String("in", "", "loadgen results file (JSON lines)")
	decisions := flag.String("decisions", "", "directory of <server>.jsonl decision files from loadgen -decisions, to compare the servers' decisions")
	callgrind := flag.String("callgrind", "", "summary.txt from callgrind.sh, to compare instructions per check")
	scale := flag.String("scale", "", "scale.jsonl from scale.sh, to report startup time and memory with a large store")
	flag.Parse()
	if *in == "" {
		fmt.Fprintln(os.Stderr, "report: missing -in: the loadgen results file")
		os.Exit(2)
	}

	samples, err := readSamples(*in)
	if err != nil {
		fmt.Fprintln(os.Stderr, "report:", err)
		os.Exit(1)
	}
	summaries := summarize(samples)
	printTable(os.Stdout, summaries)
	printTargets(os.Stdout, summaries)

	// Each optional section reads its own file; an empty flag skips it.
	sections := []struct {
		path  string
		print func(io.Writer, string) error
	}{
		{*callgrind, printInstructions},
		{*scale, printScale},
		{*decisions, printAgreement},
	}
	for _, section := range sections {
		if section.path == "" {
			continue
		}
		if err := section.print(os.Stdout, section.path); err != nil {
			fmt.Fprintln(os.Stderr, "report:", err)
			os.Exit(1)
		}
	}
}

func readSamples(path string) ([]sample, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open results: %w", err)
	}
	defer file.Close()
	var samples []sample
	scanner := bufio.NewScanner(file)
	for line := 1; scanner.Scan(); line++ {
		var s sample
		if err := json.Unmarshal(scanner.Bytes(), &s); err != nil {
			return nil, fmt.Errorf("%s:%d: invalid result line: %w", path, line, err)
		}
		samples = append(samples, s)
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if len(samples) == 0 {
		return nil, fmt.Errorf("%s contains no results: run bench/run.sh first", path)
	}
	return samples, nil
}

func summarize(samples []sample) map[key]summary {
	grouped := make(map[key][]sample)
	for _, s := range samples {
		k := key{s.Server, s.Concurrency}
		grouped[k] = append(grouped[k], s)
	}
	summaries := make(map[key]summary, len(grouped))
	for k, list := range grouped {
		pick := func(f func(sample) float64) float64 {
			values := make([]float64, len(list))
			for i, s := range list {
				values[i] = f(s)
			}
			return median(values)
		}
		var errors int64
		for _, s := range list {
			errors += s.Errors
		}
		summaries[k] = summary{
			rounds: len(list),
			rps:    pick(func(s sample) float64 { return s.RPS }),
			p50:    pick(func(s sample) float64 { return s.Latency.P50 }),
			p90:    pick(func(s sample) float64 { return s.Latency.P90 }),
			p99:    pick(func(s sample) float64 { return s.Latency.P99 }),
			p999:   pick(func(s sample) float64 { return s.Latency.P999 }),
			cpu:    pick(func(s sample) float64 { return s.CPUPerCheck }),
			rss:    pick(func(s sample) float64 { return float64(s.PeakRSSKiB) / 1024 }),
			load:   pick(func(s sample) float64 { return s.LoadAvg1m }),
			client: pick(func(s sample) float64 { return s.ClientCPU }),
			errors: errors,
		}
	}
	return summaries
}

// median returns the middle value, or the mean of the two middle values for
// an even count.
func median(values []float64) float64 {
	if len(values) == 0 {
		return 0
	}
	sorted := slices.Clone(values)
	slices.Sort(sorted)
	middle := len(sorted) / 2
	if len(sorted)%2 == 1 {
		return sorted[middle]
	}
	return (sorted[middle-1] + sorted[middle]) / 2
}

// ratio returns a/b formatted with two decimals, or "-" when b is missing.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func printTable(w io.Writer, summaries map[key]summary) {
	keys := make([]key, 0, len(summaries))
	for k := range summaries {
		keys = append(keys, k)
	}
	order := map[string]int{noopName: 0, productName: 1, peerName: 2}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].concurrency != keys[j].concurrency {
			return keys[i].concurrency < keys[j].concurrency
		}
		return order[keys[i].server] < order[keys[j].server]
	})

	fmt.Fprintln(w, "| server | c | rounds | checks/s | p50 µs | p90 µs | p99 µs | p99.9 µs | CPU µs/check | peak RSS MiB | errors | client CPU | load avg | checks/s ÷ noop | p99 ÷ noop | CPU ÷ noop | checks/s ÷ rego | p99 ÷ rego | CPU ÷ rego |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, k := range keys {
		s := summaries[k]
		noop := summaries[key{noopName, k.concurrency}]
		peer := summaries[key{peerName, k.concurrency}]
		fmt.Fprintf(w, "| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.1f | %d | %.2f | %.1f | %s | %s | %s | %s | %s | %s |\n",
			k.server, k.concurrency, s.rounds, s.rps, s.p50, s.p90, s.p99, s.p999, s.cpu, s.rss, s.errors, s.client, s.load,
			ratio(s.rps, noop.rps), ratio(s.p99, noop.p99), ratio(s.cpu, noop.cpu),
			ratio(s.rps, peer.rps), ratio(s.p99, peer.p99), ratio(s.cpu, peer.cpu))
	}
}

// printTargets checks the throughput, latency and CPU targets at
// concurrency 32 against the medians.
func printTargets(w io.Writer, summaries map[key]summary) {
	product, okProduct := summaries[key{productName, targetsLevel}]
	noop, okNoop := summaries[key{noopName, targetsLevel}]
	peer, okPeer := summaries[key{peerName, targetsLevel}]
	fmt.Fprintf(w, "\nTargets at concurrency %d (medians):\n\n", targetsLevel)
	if !okProduct {
		fmt.Fprintln(w, "- no ecsauthz results at this concurrency")
		return
	}

	check := func(name string, have bool, value, limit float64, atLeast bool) {
		if !have {
			fmt.Fprintf(w, "- %s: not measured\n", name)
			return
		}
		met := value <= limit
		relation := "<="
		if atLeast {
			met = value >= limit
			relation = ">="
		}
		fmt.Fprintf(w, "- %s: %.3f (target %s %.3f): %s\n", name, value, relation, limit, verdict(met))
	}

	check("throughput ÷ noop", okNoop, product.rps/noop.rps, 0.85, true)
	check("p99 ÷ noop", okNoop, product.p99/noop.p99, 1.25, false)
	check("CPU per check ÷ noop", okNoop, product.cpu/noop.cpu, 1.25, false)
	check("throughput ÷ rego", okPeer, product.rps/peer.rps, 10, true)
	check("p99 ÷ rego", okPeer, product.p99/peer.p99, 0.1, false)
	check("CPU per check ÷ rego", okPeer, product.cpu/peer.cpu, 0.1, false)
}

// decision is the part of a loadgen -decisions line that two servers must
// agree on.
type decision struct {
	Name         string `json:"name"`
	Code         string `json:"code"`
	HTTPStatus   int    `json:"http_status"`
	DeniedAction string `json:"denied_action"`
	Reason       string `json:"reason"`
}

// printAgreement compares the decisions of ecsauthz and the Rego peer on
// the same mix: allow or deny, and for a denial the HTTP status, reason and
// action.
func printAgreement(w io.Writer, dir string) error {
	for _, name := range []string{productName, peerName} {
		if _, err := os.Stat(filepath.Join(dir, name+".jsonl")); errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(w, "\nDecision agreement not compared: no decisions of %s in %s.\n", name, dir)
			return nil
		}
	}
	product, err := readDecisions(filepath.Join(dir, productName+".jsonl"))
	if err != nil {
		return err
	}
	peer, err := readDecisions(filepath.Join(dir, peerName+".jsonl"))
	if err != nil {
		return err
	}
	var differences []string
	for name, p := range product {
		r, ok := peer[name]
		switch {
		case !ok:
			differences = append(differences, name+": missing from the peer")
		case (p.Code == "OK") != (r.Code == "OK"):
			differences = append(differences, fmt.Sprintf("%s: ecsauthz %s %s %s, rego %s %s %s", name, p.Code, p.Reason, p.DeniedAction, r.Code, r.Reason, r.DeniedAction))
		case p.Code != "OK" && (p.Reason != r.Reason || p.DeniedAction != r.DeniedAction || p.HTTPStatus != r.HTTPStatus):
			differences = append(differences, fmt.Sprintf("%s: both deny, ecsauthz %d %s %s, rego %d %s %s",
				name, p.HTTPStatus, p.Reason, p.DeniedAction, r.HTTPStatus, r.Reason, r.DeniedAction))
		}
	}
	sort.Strings(differences)
	fmt.Fprintf(w, "\nDecision agreement, ecsauthz vs rego: %d of %d requests agree.\n", len(product)-len(differences), len(product))
	for _, d := range differences {
		fmt.Fprintln(w, "- "+d)
	}
	return nil
}

func readDecisions(path string) (map[string]decision, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read decisions: %w", err)
	}
	decisions := make(map[string]decision)
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var d decision
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return nil, fmt.Errorf("%s:%d: invalid decision line: %w", path, i+1, err)
		}
		decisions[d.Name] = d
	}
	return decisions, nil
}

// printInstructions prints the instructions per check that callgrind.sh
// counted, with the ratios the CPU targets are stated in.
func printInstructions(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read callgrind summary: %w", err)
	}
	perCheck := make(map[string]float64)
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		fields := strings.Fields(line)
		if len(fields) < 4 {
			return fmt.Errorf("invalid callgrind summary line %q: want name checks=N instructions=N per_check=N", line)
		}
		value, ok := strings.CutPrefix(fields[3], "per_check=")
		var count float64
		if _, err := fmt.Sscan(value, &count); !ok || err != nil {
			return fmt.Errorf("invalid per_check field in callgrind summary line %q", line)
		}
		perCheck[fields[0]] = count
	}

	fmt.Fprintln(w, "\nInstructions per check (callgrind; far less affected by other load on the machine than timings):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| server | instructions per check | ÷ noop | ÷ rego |")
	fmt.Fprintln(w, "|---|---:|---:|---:|")
	for _, name := range []string{noopName, productName, peerName} {
		count, ok := perCheck[name]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "| %s | %.0f | %s | %s |\n", name, count, ratio(count, perCheck[noopName]), ratio(count, perCheck[peerName]))
	}

	product, noop, peer := perCheck[productName], perCheck[noopName], perCheck[peerName]
	if product == 0 || noop == 0 || peer == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nCPU targets by instruction count:")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- instructions ÷ noop: %.3f (target <= 1.250): %s\n", product/noop, verdict(product/noop <= 1.25))
	fmt.Fprintf(w, "- instructions ÷ rego: %.3f (target <= 0.100): %s\n", product/peer, verdict(product/peer <= 0.1))
	return nil
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "not met"
}

// startupRun is one line of scale.jsonl, written by cmd/startup.
type startupRun struct {
	StartupS      float64 `json:"startup_to_serving_s"`
	CPUAtServingS float64 `json:"cpu_at_serving_s"`
	RSSAtServing  int64   `json:"rss_at_serving_kib"`
	PeakAtServing int64   `json:"peak_rss_at_serving_kib"`
	RSSAfterLoad  int64   `json:"rss_after_load_kib"`
	PeakAfterLoad int64   `json:"peak_rss_after_load_kib"`
	LoadP99US     float64 `json:"load_p99_us"`
}

// Targets for a store of 10,000 users, 10,000 policies and 100,000 grants.
const (
	maxStartupSeconds = 2.0
	maxRSSMiB         = 128.0
)

// printScale prints each scale.sh run and checks the startup and memory
// targets against the worst run.
func printScale(w io.Writer, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read scale results: %w", err)
	}
	fmt.Fprintln(w, "\nStartup and memory with 10,000 users, 10,000 policies and 100,000 grants (scale.sh):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| run | startup to SERVING s | CPU s until SERVING | RSS at SERVING MiB | peak RSS MiB | RSS after 20,000 checks MiB | p99 of those checks µs |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|")
	var worstStartup, worstPeak float64
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var run startupRun
		if err := json.Unmarshal([]byte(line), &run); err != nil {
			return fmt.Errorf("%s:%d: invalid scale result: %w", path, i+1, err)
		}
		peak := float64(max(run.PeakAtServing, run.PeakAfterLoad)) / 1024
		fmt.Fprintf(w, "| %d | %.2f | %.2f | %.0f | %.0f | %.0f | %.0f |\n", i+1, run.StartupS, run.CPUAtServingS,
			float64(run.RSSAtServing)/1024, peak, float64(run.RSSAfterLoad)/1024, run.LoadP99US)
		worstStartup = max(worstStartup, run.StartupS)
		worstPeak = max(worstPeak, peak)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- startup to SERVING, slowest run: %.2f s (target < %.0f s): %s\n", worstStartup, maxStartupSeconds, verdict(worstStartup < maxStartupSeconds))
	fmt.Fprintf(w, "- peak RSS, largest run: %.0f MiB (target < %.0f MiB): %s\n", worstPeak, maxRSSMiB, verdict(worstPeak < maxRSSMiB))
	return nil
}
