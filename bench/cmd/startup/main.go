// Command startup starts a server command, measures the time from process
// start until its gRPC health reports SERVING, and reports the process's
// resident memory then and after an optional burst of checks. It stops the
// process it started, by PID, before it exits.
//
//	startup -addr 127.0.0.1:19191 [-requests DIR -count 20000] -- bin/ecsauthz serve ...
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/ecsauthz/ecsauthz/bench/internal/loadgen"
	"github.com/ecsauthz/ecsauthz/bench/internal/mix"
	"github.com/ecsauthz/ecsauthz/bench/internal/procstat"
)

// pollInterval is the pause between health checks. It bounds the error of
// the measured startup time.
const pollInterval = 5 * time.Millisecond

// report is the JSON line printed on stdout.
type report struct {
	StartupS      float64 `json:"startup_to_serving_s"`
	CPUAtServingS float64 `json:"cpu_at_serving_s"`
	RSSAtServing  int64   `json:"rss_at_serving_kib"`
	PeakAtServing int64   `json:"peak_rss_at_serving_kib"`
	RSSAfterLoad  int64   `json:"rss_after_load_kib,omitempty"`
	PeakAfterLoad int64   `json:"peak_rss_after_load_kib,omitempty"`
	LoadChecks    int64   `json:"load_checks,omitempty"`
	LoadP99US     float64 `json:"load_p99_us,omitempty"`
	LoadStatuses  any     `json:"load_statuses,omitempty"`
	ServerCommand string  `json:"server_command"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:19191", "server gRPC address (loopback)")
	timeout := flag.Duration("timeout", 60*time.Second, "longest wait for SERVING")
	requestsDir := flag.String("requests", "", "CheckRequest directory for a burst of checks after SERVING; empty skips it")
	count := flag.Int64("count", 20000, "number of checks in the burst")
	concurrency := flag.Int("c", 8, "concurrency of the burst")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "startup: missing server command after --")
		os.Exit(2)
	}
	rep, err := measure(*addr, *timeout, *requestsDir, *count, *concurrency, flag.Args())
	if err != nil {
		fmt.Fprintln(os.Stderr, "startup:", err)
		os.Exit(1)
	}
	line, _ := json.Marshal(rep)
	fmt.Println(string(line))
}

func measure(addr string, timeout time.Duration, requestsDir string, count int64, concurrency int, command []string) (*report, error) {
	conns, err := loadgen.Dial(addr, 1)
	if err != nil {
		return nil, err
	}
	defer conns[0].Close()

	cmd := exec.Command(command[0], command[1:]...)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	started := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start %s: %w", command[0], err)
	}
	pid := cmd.Process.Pid
	// exited is closed when the process has exited and waitErr is set.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	defer stop(cmd.Process, exited)

	rep := &report{ServerCommand: fmt.Sprint(command)}
	if err := waitServing(conns[0], timeout, exited); err != nil {
		if errors.Is(err, errExited) {
			<-exited
			return nil, fmt.Errorf("%w: %v", err, waitErr)
		}
		return nil, err
	}
	rep.StartupS = time.Since(started).Seconds()
	usage, err := procstat.Read(pid, procstat.DefaultClockTicks)
	if err != nil {
		return nil, err
	}
	rep.CPUAtServingS = usage.CPU.Seconds()
	sample, err := readMemory(pid)
	if err != nil {
		return nil, err
	}
	rep.RSSAtServing, rep.PeakAtServing = sample.rss, sample.peak

	if requestsDir == "" {
		return rep, nil
	}
	requests, _, err := mix.Load(requestsDir, false)
	if err != nil {
		return nil, err
	}
	result, err := loadgen.Run(context.Background(), loadgen.Config{
		Target: addr, Requests: requests, Concurrency: concurrency, Connections: 1,
		Count: count, MaxDuration: 2 * time.Minute,
	})
	if err != nil {
		return nil, err
	}
	rep.LoadChecks, rep.LoadP99US, rep.LoadStatuses = result.Checks, result.Latency.P99, result.Statuses
	if sample, err = readMemory(pid); err != nil {
		return nil, err
	}
	rep.RSSAfterLoad, rep.PeakAfterLoad = sample.rss, sample.peak
	return rep, nil
}

var errExited = errors.New("server exited before SERVING")

// waitServing polls health every pollInterval. It fails early when the
// server exits.
func waitServing(conn *grpc.ClientConn, timeout time.Duration, exited <-chan struct{}) error {
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return errExited
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		response, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && response.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		time.Sleep(pollInterval)
	}
	return fmt.Errorf("server not SERVING after %v", timeout)
}

type memory struct{ rss, peak int64 }

func readMemory(pid int) (memory, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, fmt.Errorf("failed to read memory of process %d: %w", pid, err)
	}
	rss, err := procstat.ParseStatusKiB(status, "VmRSS")
	if err != nil {
		return memory{}, err
	}
	peak, err := procstat.ParseStatusKiB(status, "VmHWM")
	if err != nil {
		return memory{}, err
	}
	return memory{rss: rss, peak: peak}, nil
}

// stop sends SIGTERM to the process this command started and SIGKILL if it
// has not exited within 10 seconds.
func stop(process *os.Process, exited <-chan struct{}) {
	if err := process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		fmt.Fprintln(os.Stderr, "startup: failed to signal server:", err)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		_ = process.Kill()
		<-exited
	}
}
