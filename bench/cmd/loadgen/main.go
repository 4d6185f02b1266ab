// Command loadgen drives an Envoy ext_authz server with a closed loop of
// CheckRequests read from protojson files and reports throughput, latency
// percentiles, errors and the server's CPU time and peak RSS.
//
// It sends only to the address given by -addr, which must be a loopback
// address, and stops by itself after -warmup plus -duration (or -count
// checks), or at -max-duration at the latest.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ecsauthz/ecsauthz/bench/internal/loadgen"
	"github.com/ecsauthz/ecsauthz/bench/internal/mix"
	"github.com/ecsauthz/ecsauthz/bench/internal/procstat"
)

// options are the command-line settings.
type options struct {
	addr        string
	requestsDir string
	skipInvalid bool
	concurrency int
	connections int
	warmup      time.Duration
	duration    time.Duration
	count       int64
	maxDuration time.Duration
	pid         int
	clockTicks  int
	server      string
	round       int
	out         string
	waitOnly    time.Duration
	decisions   bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:9191", "server gRPC address; must be a loopback IP and port")
	fs.StringVar(&o.requestsDir, "requests", "", "directory of protojson CheckRequest files (*.json, searched recursively)")
	fs.BoolVar(&o.skipInvalid, "skip-invalid", false, "leave out *.json files that are not CheckRequests instead of failing")
	fs.IntVar(&o.concurrency, "c", 32, "number of concurrent workers, each with one check in flight")
	fs.IntVar(&o.connections, "conns", 1, "number of gRPC connections shared by the workers")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "load sent before measuring starts")
	fs.DurationVar(&o.duration, "duration", 8*time.Second, "length of the measured phase; ignored when -count is set")
	fs.Int64Var(&o.count, "count", 0, "end the measured phase after this many checks instead of after -duration")
	fs.DurationVar(&o.maxDuration, "max-duration", 5*time.Minute, "hard limit on the whole run, warmup included")
	fs.IntVar(&o.pid, "pid", 0, "server process id to read CPU time and peak RSS from /proc; 0 skips them")
	fs.IntVar(&o.clockTicks, "clk-tck", procstat.DefaultClockTicks, "kernel USER_HZ, the output of `getconf CLK_TCK`")
	fs.StringVar(&o.server, "server", "", "server name recorded in the JSON result")
	fs.IntVar(&o.round, "round", 0, "round number recorded in the JSON result")
	fs.StringVar(&o.out, "out", "", "append the result as one JSON line to this file")
	fs.DurationVar(&o.waitOnly, "wait", 0, "only wait up to this long for gRPC health SERVING, then exit")
	fs.BoolVar(&o.decisions, "decisions", false, "send each request once and print its decision as a JSON line")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := checkLoopback(o.addr); err != nil {
		return nil, err
	}
	if o.waitOnly == 0 && o.requestsDir == "" {
		return nil, errors.New("missing -requests: the directory of CheckRequest files")
	}
	return o, nil
}

// checkLoopback rejects any address that is not a loopback IP, so the load
// never leaves the machine.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid -addr %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("invalid -addr %q: the host must be a loopback IP such as 127.0.0.1", addr)
	}
	return nil
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(stderr, "loadgen:", err)
		}
		return 2
	}
	if o.waitOnly > 0 {
		return wait(ctx, o, stderr)
	}

	requests, skipped, err := mix.Load(o.requestsDir, o.skipInvalid)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	for _, name := range skipped {
		fmt.Fprintf(stderr, "loadgen: skipped %s: not a CheckRequest\n", name)
	}
	if o.decisions {
		return printDecisions(ctx, o, requests, stdout, stderr)
	}
	return load(ctx, o, requests, stdout, stderr)
}

func wait(ctx context.Context, o *options, stderr io.Writer) int {
	conns, err := loadgen.Dial(o.addr, 1)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	defer conns[0].Close()
	if err := loadgen.WaitServing(ctx, conns[0], o.waitOnly); err != nil {
		fmt.Fprintf(stderr, "loadgen: %s: %v\n", o.addr, err)
		return 1
	}
	return 0
}

func printDecisions(ctx context.Context, o *options, requests []mix.Request, stdout, stderr io.Writer) int {
	conns, err := loadgen.Dial(o.addr, 1)
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}
	defer conns[0].Close()
	encoder := json.NewEncoder(stdout)
	for _, decision := range loadgen.Decide(ctx, conns[0], requests, 5*time.Second) {
		if err := encoder.Encode(decision); err != nil {
			fmt.Fprintln(stderr, "loadgen: failed to write decision:", err)
			return 1
		}
	}
	return 0
}

// record is one JSON line of the results file.
type record struct {
	Server string    `json:"server"`
	Round  int       `json:"round"`
	Addr   string    `json:"addr"`
	Time   time.Time `json:"time"`
	*loadgen.Result
}

func load(ctx context.Context, o *options, requests []mix.Request, stdout, stderr io.Writer) int {
	result, err := loadgen.Run(ctx, loadgen.Config{
		Target:      o.addr,
		Requests:    requests,
		Concurrency: o.concurrency,
		Connections: o.connections,
		Warmup:      o.warmup,
		Duration:    o.duration,
		Count:       o.count,
		MaxDuration: o.maxDuration,
		ServerPID:   o.pid,
		ClockTicks:  o.clockTicks,
	})
	if err != nil {
		fmt.Fprintln(stderr, "loadgen:", err)
		return 1
	}

	fmt.Fprintf(stdout, "%-10s c=%-3d rps=%9.0f p50=%7.0fus p90=%7.0fus p99=%7.0fus p99.9=%7.0fus cpu/check=%6.1fus rss=%6.1fMiB errors=%d client-cpu=%.2f load=%.1f statuses=%v\n",
		o.server, result.Concurrency, result.RPS, result.Latency.P50, result.Latency.P90, result.Latency.P99,
		result.Latency.P999, result.ServerCPUPerCheckUS, float64(result.PeakRSSKiB)/1024, result.Errors,
		result.ClientCPUShare, result.LoadAvg1m, result.Statuses)
	if result.FirstError != "" {
		fmt.Fprintln(stderr, "loadgen: first error:", result.FirstError)
	}
	if o.out != "" {
		if err := appendJSONLine(o.out, record{Server: o.server, Round: o.round, Addr: o.addr, Time: time.Now().UTC(), Result: result}); err != nil {
			fmt.Fprintln(stderr, "loadgen:", err)
			return 1
		}
	}
	return 0
}

func appendJSONLine(path string, v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode result: %w", err)
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("failed to open results file: %w", err)
	}
	if _, err := file.Write(append(line, '\n')); err != nil {
		file.Close()
		return fmt.Errorf("failed to write results file %s: %w", path, err)
	}
	return file.Close()
}
