// Package loadgen is a closed-loop load generator for Envoy ext_authz
// servers. Each of N workers sends one Check, waits for the response and
// sends the next, over one or more gRPC connections to a loopback address.
package loadgen

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ecsauthz/ecsauthz/bench/internal/mix"
	"github.com/ecsauthz/ecsauthz/bench/internal/procstat"
)

// CheckMethod is the full gRPC method name of ext_authz Check.
const CheckMethod = "/envoy.service.auth.v3.Authorization/Check"

// Config sets up one run.
type Config struct {
	// Target is the server's gRPC address, host:port.
	Target string
	// Requests is the mix. Worker i starts at request i and walks the mix
	// round-robin, so every request is sent about equally often.
	Requests []mix.Request
	// Concurrency is the number of workers, each with one call in flight.
	Concurrency int
	// Connections is the number of gRPC connections the workers share,
	// assigned round-robin.
	Connections int
	// Warmup is sent but not measured.
	Warmup time.Duration
	// Duration ends the measured phase when Count is zero.
	Duration time.Duration
	// Count ends the measured phase after that many checks when non-zero.
	Count int64
	// MaxDuration cancels a run, warmup included, that is still going after
	// it, so a hung server cannot stall the load generator.
	MaxDuration time.Duration
	// ServerPID is the server process to read CPU time and peak RSS from.
	// Zero skips those figures.
	ServerPID int
	// ClockTicks is the kernel's USER_HZ for reading CPU time. Zero means
	// [procstat.DefaultClockTicks].
	ClockTicks int
}

// Result is the outcome of one run. Figures cover the measured phase only,
// except PeakRSSKiB, which is the server's peak since it started.
type Result struct {
	Concurrency int     `json:"concurrency"`
	Connections int     `json:"connections"`
	WarmupS     float64 `json:"warmup_s"`
	ElapsedS    float64 `json:"elapsed_s"`
	Checks      int64   `json:"checks"`
	Errors      int64   `json:"errors"`
	FirstError  string  `json:"first_error,omitempty"`
	RPS         float64 `json:"rps"`
	Latency     Latency `json:"latency"`
	// Statuses counts responses by the gRPC status code inside the
	// CheckResponse (OK for allow, PERMISSION_DENIED or UNAUTHENTICATED for
	// deny), by code name.
	Statuses map[string]int64 `json:"statuses"`

	ServerCPUSeconds    float64 `json:"server_cpu_s"`
	ServerCPUPerCheckUS float64 `json:"server_cpu_us_per_check"`
	PeakRSSKiB          int64   `json:"server_peak_rss_kib"`
	MixFiles            int     `json:"mix_files"`
	// ClientCPUShare is the load generator's own CPU time divided by the
	// elapsed time: near 1.0 with the client pinned to one CPU means the
	// client, not the server, limited the throughput.
	ClientCPUShare float64 `json:"client_cpu_share"`
	// LoadAvg1m is the machine's one-minute load average at the end of the
	// measured phase, to tell runs disturbed by other work.
	LoadAvg1m float64 `json:"load_avg_1m"`
}

func (c *Config) validate() error {
	var problems []error
	if c.Target == "" {
		problems = append(problems, errors.New("target address is missing"))
	}
	if len(c.Requests) == 0 {
		problems = append(problems, errors.New("request mix is empty"))
	}
	if c.Concurrency < 1 {
		problems = append(problems, fmt.Errorf("invalid concurrency %d: must be at least 1", c.Concurrency))
	}
	if c.Connections < 1 || c.Connections > c.Concurrency {
		problems = append(problems, fmt.Errorf("invalid connection count %d: must be between 1 and the concurrency %d", c.Connections, c.Concurrency))
	}
	if c.Count == 0 && c.Duration <= 0 {
		problems = append(problems, errors.New("neither a check count nor a duration is set"))
	}
	if c.MaxDuration <= 0 {
		problems = append(problems, errors.New("max duration is missing"))
	}
	return errors.Join(problems...)
}

// reconnectBackoff replaces grpc-go's default reconnect backoff (1 s base
// delay), which would add up to a second to the measured startup time of a
// server that is not listening yet. Retrying fast is cheap on loopback.
var reconnectBackoff = grpc.ConnectParams{
	Backoff:           backoff.Config{BaseDelay: 5 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 50 * time.Millisecond},
	MinConnectTimeout: time.Second,
}

// Dial opens n client connections to target without TLS. Callers close them.
func Dial(target string, n int) ([]*grpc.ClientConn, error) {
	conns := make([]*grpc.ClientConn, 0, n)
	for range n {
		conn, err := grpc.NewClient(target,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(reconnectBackoff))
		if err != nil {
			closeAll(conns)
			return nil, fmt.Errorf("failed to create client for %s: %w", target, err)
		}
		conn.Connect()
		conns = append(conns, conn)
	}
	return conns, nil
}

func closeAll(conns []*grpc.ClientConn) {
	for _, conn := range conns {
		_ = conn.Close()
	}
}

// worker is one closed-loop sender. Only its own goroutine writes to it
// until the run ends.
type worker struct {
	conn      *grpc.ClientConn
	next      int
	latencies []int64
	statuses  map[codes.Code]int64
	errors    int64
	firstErr  error
}

// run is the state the workers share.
type run struct {
	requests  []encodedRequest
	measuring atomic.Bool
	stopped   atomic.Bool
	measured  atomic.Int64
	count     int64
	countDone chan struct{}
	doneOnce  sync.Once
}

// Run sends load as configured and returns the measured figures.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("invalid load generator config: %w", err)
	}
	conns, err := Dial(cfg.Target, cfg.Connections)
	if err != nil {
		return nil, err
	}
	defer closeAll(conns)

	ctx, cancel := context.WithTimeout(ctx, cfg.MaxDuration)
	defer cancel()

	shared := &run{count: cfg.Count, countDone: make(chan struct{})}
	for _, r := range cfg.Requests {
		shared.requests = append(shared.requests, encodedRequest{wire: r.Wire})
	}
	workers := make([]*worker, cfg.Concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		workers[i] = &worker{
			conn:     conns[i%len(conns)],
			next:     i % len(cfg.Requests),
			statuses: make(map[codes.Code]int64),
		}
		wg.Go(func() { workers[i].loop(ctx, shared) })
	}

	window, err := measure(ctx, cfg, shared)
	shared.stopped.Store(true)
	cancel()
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return collect(cfg, workers, window), nil
}

// window is the measured phase: its length and the server's counters at
// both ends.
type window struct {
	elapsed     time.Duration
	start, end  procstat.Sample
	haveCounter bool
	clientCPU   time.Duration
	loadAverage float64
}

// measure waits out the warmup, opens the measured phase, waits for its
// end and reads the server's counters at both ends.
func measure(ctx context.Context, cfg Config, shared *run) (window, error) {
	var w window
	if !sleep(ctx, cfg.Warmup) {
		return w, fmt.Errorf("run cancelled during warmup: %w", context.Cause(ctx))
	}

	var err error
	if cfg.ServerPID != 0 {
		if w.start, err = procstat.Read(cfg.ServerPID, cfg.ClockTicks); err != nil {
			return w, err
		}
	}
	clientStart, err := procstat.Read(os.Getpid(), cfg.ClockTicks)
	if err != nil {
		return w, err
	}
	started := time.Now()
	shared.measuring.Store(true)

	if cfg.Count > 0 {
		select {
		case <-shared.countDone:
		case <-ctx.Done():
			return w, fmt.Errorf("run stopped before %d checks completed: %w", cfg.Count, context.Cause(ctx))
		}
	} else if !sleep(ctx, cfg.Duration) {
		return w, fmt.Errorf("run cancelled before its duration ended: %w", context.Cause(ctx))
	}

	shared.stopped.Store(true)
	w.elapsed = time.Since(started)
	clientEnd, err := procstat.Read(os.Getpid(), cfg.ClockTicks)
	if err != nil {
		return w, err
	}
	w.clientCPU = clientEnd.CPU - clientStart.CPU
	if w.loadAverage, err = procstat.LoadAverage(); err != nil {
		return w, err
	}
	if cfg.ServerPID != 0 {
		if w.end, err = procstat.Read(cfg.ServerPID, cfg.ClockTicks); err != nil {
			return w, err
		}
		w.haveCounter = true
	}
	return w, nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// loop sends checks back to back until the run stops. A check counts only
// if it both started and finished inside the measured phase.
func (w *worker) loop(ctx context.Context, shared *run) {
	response := &authv3.CheckResponse{}
	codec := grpc.ForceCodec(passthroughCodec{})
	for !shared.stopped.Load() {
		request := &shared.requests[w.next]
		w.next++
		if w.next == len(shared.requests) {
			w.next = 0
		}

		inPhase := shared.measuring.Load()
		started := time.Now()
		err := w.conn.Invoke(ctx, CheckMethod, request, response, codec)
		latency := time.Since(started)
		if !inPhase || shared.stopped.Load() {
			continue
		}

		if err != nil {
			w.errors++
			if w.firstErr == nil {
				w.firstErr = err
			}
		} else {
			w.latencies = append(w.latencies, int64(latency))
			w.statuses[codes.Code(response.GetStatus().GetCode())]++
		}
		if shared.count > 0 && shared.measured.Add(1) == shared.count {
			shared.doneOnce.Do(func() { close(shared.countDone) })
		}
	}
}

// collect merges the workers' records into one Result.
func collect(cfg Config, workers []*worker, w window) *Result {
	result := &Result{
		Concurrency: cfg.Concurrency,
		Connections: cfg.Connections,
		WarmupS:     cfg.Warmup.Seconds(),
		ElapsedS:    w.elapsed.Seconds(),
		Statuses:    make(map[string]int64),
		MixFiles:    len(cfg.Requests),
		LoadAvg1m:   w.loadAverage,
	}
	var all []int64
	for _, wk := range workers {
		all = append(all, wk.latencies...)
		result.Errors += wk.errors
		if wk.firstErr != nil && result.FirstError == "" {
			result.FirstError = wk.firstErr.Error()
		}
		for code, n := range wk.statuses {
			result.Statuses[code.String()] += n
		}
	}
	result.Checks = int64(len(all))
	if w.elapsed > 0 {
		result.RPS = float64(result.Checks) / w.elapsed.Seconds()
		result.ClientCPUShare = w.clientCPU.Seconds() / w.elapsed.Seconds()
	}
	result.Latency = summarize(all)

	if w.haveCounter {
		cpu := w.end.CPU - w.start.CPU
		result.ServerCPUSeconds = cpu.Seconds()
		if result.Checks > 0 {
			result.ServerCPUPerCheckUS = float64(cpu) / float64(time.Microsecond) / float64(result.Checks)
		}
		result.PeakRSSKiB = w.end.PeakRSSKiB
	}
	return result
}
