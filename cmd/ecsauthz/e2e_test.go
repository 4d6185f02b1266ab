package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/e2e")

// repoRoot is the repository root relative to this package.
const repoRoot = "../.."

// TestEndToEnd builds the real binary, starts it on loopback ports with the
// example policy store and JWKS, and compares the full CheckResponse of
// every example CheckRequest with its golden file.
func TestEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the binary")
	}
	proc := startServer(t)
	conn, err := grpc.NewClient(proc.grpcAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("failed to create gRPC client: %v", err)
	}
	defer conn.Close()
	waitServing(t, conn, proc)
	client := authv3.NewAuthorizationClient(conn)

	t.Run("examples", func(t *testing.T) {
		files, err := filepath.Glob(filepath.Join(repoRoot, "examples/checkrequests/*.json"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no example CheckRequests in examples/checkrequests (err %v): run go run ./examples/checkrequests/gen", err)
		}
		for _, file := range files {
			name := strings.TrimSuffix(filepath.Base(file), ".json")
			t.Run(name, func(t *testing.T) {
				req := readCheckRequest(t, file)
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				resp, err := client.Check(ctx, req)
				if err != nil {
					t.Fatalf("Check returned a gRPC error, want a CheckResponse: %v", err)
				}
				compareGolden(t, name, resp)
			})
		}
	})

	t.Run("invalid-utf8-header", func(t *testing.T) {
		wire := invalidUTF8Request(t)
		resp := &authv3.CheckResponse{}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := conn.Invoke(ctx, authv3.Authorization_Check_FullMethodName, rawMessage(wire), resp,
			grpc.ForceCodecV2(rawClientCodec{}))
		if err != nil {
			t.Fatalf("Check returned a gRPC error, want a deny CheckResponse: %v", err)
		}
		compareGolden(t, "invalid-utf8-header", resp)
	})

	t.Run("services-serving", func(t *testing.T) {
		health := healthpb.NewHealthClient(conn)
		for _, service := range []string{"", "envoy.service.auth.v3.Authorization", "ecsauthz.v1.AuthorizationService"} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			cancel()
			if err != nil {
				t.Errorf("health of %q: %v", service, err)
				continue
			}
			if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("health of %q = %v, want SERVING", service, resp.GetStatus())
			}
		}
	})

	t.Run("http-endpoints", func(t *testing.T) {
		for _, tc := range []struct {
			path       string
			wantStatus int
			wantBody   string
		}{
			{"/healthz", http.StatusOK, "ok"},
			{"/readyz", http.StatusOK, `"ready":true`},
			{"/metrics", http.StatusOK, `ecsauthz_decisions_total{reason="allowed"}`},
		} {
			status, body := httpGet(t, "http://"+proc.httpAddress+tc.path)
			if status != tc.wantStatus {
				t.Errorf("GET %s: status %d, want %d", tc.path, status, tc.wantStatus)
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("GET %s: body does not contain %q:\n%.2000s", tc.path, tc.wantBody, body)
			}
		}
	})

	t.Run("sigterm-graceful-shutdown", func(t *testing.T) {
		if err := proc.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("failed to send SIGTERM: %v", err)
		}
		select {
		case <-proc.exited:
		case <-time.After(15 * time.Second):
			t.Fatalf("server did not exit within 15s of SIGTERM; log:\n%s", proc.log())
		}
		if code := proc.cmd.ProcessState.ExitCode(); code != 0 {
			t.Errorf("exit code after SIGTERM = %d, want 0; log:\n%s", code, proc.log())
		}
		for _, msg := range []string{`"msg":"shutting down"`, `"msg":"stopped"`} {
			if !strings.Contains(proc.log(), msg) {
				t.Errorf("log lacks %s; log:\n%s", msg, proc.log())
			}
		}
	})
}

// serverProcess is a running ecsauthz binary.
type serverProcess struct {
	cmd         *exec.Cmd
	grpcAddress string
	httpAddress string
	exited      chan struct{}

	mu     sync.Mutex
	output bytes.Buffer
}

func (p *serverProcess) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// startServer builds the binary into a temporary directory and starts it
// on free loopback ports. The process is killed at test end if it is still
// running.
func startServer(t *testing.T) *serverProcess {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "ecsauthz")
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go command not found in PATH, needed to build the binary: %v", err)
	}
	build := exec.Command(goBin, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build failed: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, "serve",
		"-grpc-address", "127.0.0.1:0",
		"-http-address", "127.0.0.1:0",
		"-store-dir", filepath.Join(repoRoot, "examples/policies"),
		"-identity-jwt-jwks-file", filepath.Join(repoRoot, "examples/jwks/jwks.json"),
		"-log-level", "info",
		"-log-format", "json",
	)
	cmd.Env = cleanEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("failed to start %s: %v", bin, err)
	}
	proc := &serverProcess{cmd: cmd, exited: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-proc.exited:
		default:
			cmd.Process.Kill()
			<-proc.exited
		}
	})

	addresses := make(chan [2]string, 1)
	go proc.readLog(stderr, addresses)
	go func() {
		cmd.Wait()
		close(proc.exited)
	}()

	select {
	case a := <-addresses:
		proc.grpcAddress, proc.httpAddress = a[0], a[1]
	case <-proc.exited:
		t.Fatalf("server exited before listening; log:\n%s", proc.log())
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not log its addresses within 20s; log:\n%s", proc.log())
	}
	return proc
}

// readLog copies the server log and sends the listen addresses from the
// "listening" record.
func (p *serverProcess) readLog(r io.Reader, addresses chan<- [2]string) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 64<<10), 1<<20)
	sent := false
	for scanner.Scan() {
		line := scanner.Bytes()
		p.mu.Lock()
		p.output.Write(line)
		p.output.WriteByte('\n')
		p.mu.Unlock()

		var record struct {
			Msg  string `json:"msg"`
			GRPC string `json:"grpc_address"`
			HTTP string `json:"http_address"`
		}
		if !sent && json.Unmarshal(line, &record) == nil && record.Msg == "listening" {
			addresses <- [2]string{record.GRPC, record.HTTP}
			sent = true
		}
	}
}

// cleanEnv drops ECSAUTHZ_* variables, so only the flags the test passes
// configure the server.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ECSAUTHZ_") {
			env = append(env, kv)
		}
	}
	return env
}

// waitServing polls gRPC health until the server reports SERVING.
func waitServing(t *testing.T, conn *grpc.ClientConn, proc *serverProcess) {
	t.Helper()
	health := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(15 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{Service: authv3.Authorization_ServiceDesc.ServiceName})
		cancel()
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("health not SERVING within 15s (last status %v, error %v); log:\n%s", resp.GetStatus(), err, proc.log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func readCheckRequest(t *testing.T, path string) *authv3.CheckRequest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	req := &authv3.CheckRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		t.Fatalf("failed to parse %s: %v", path, err)
	}
	return req
}

// compareGolden compares resp, with its decision id replaced by a
// placeholder, to testdata/e2e/NAME.json, or rewrites that file with
// -update.
func compareGolden(t *testing.T, name string, resp *authv3.CheckResponse) {
	t.Helper()
	got := normalizeResponse(t, resp)
	path := filepath.Join("testdata", "e2e", name+".json")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("failed to read golden file (run go test -run TestEndToEnd -update to create it): %v", err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("CheckResponse differs from %s (-want +got):\n%s", path, diff)
	}
}

// normalizeResponse renders resp as indented JSON with sorted keys and the
// decision id replaced by DECISION_ID.
func normalizeResponse(t *testing.T, resp *authv3.CheckResponse) []byte {
	t.Helper()
	data, err := protojson.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	if id := decisionID(resp); id != "" {
		data = bytes.ReplaceAll(data, []byte(id), []byte("DECISION_ID"))
	}
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func decisionID(resp *authv3.CheckResponse) string {
	headers := resp.GetDeniedResponse().GetHeaders()
	if resp.GetOkResponse() != nil {
		headers = resp.GetOkResponse().GetHeaders()
	}
	for _, h := range headers {
		if h.GetHeader().GetKey() == "x-ecsauthz-decision-id" {
			return h.GetHeader().GetValue()
		}
	}
	return ""
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: failed to read body: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

// invalidUTF8Request returns the wire form of an allowed example request
// whose user-agent header value is not valid UTF-8. protobuf-go refuses to
// marshal such a string, so a placeholder of the same length is patched in
// the encoded bytes.
func invalidUTF8Request(t *testing.T) []byte {
	t.Helper()
	req := readCheckRequest(t, filepath.Join(repoRoot, "examples/checkrequests/v1-get-allowed-viewer.json"))
	const placeholder = "PLACEHOLDER-UA"
	req.GetAttributes().GetRequest().GetHttp().GetHeaders()["user-agent"] = placeholder
	wire, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	invalid := []byte("bad-\xff\xfe-agent\xc3x")
	if len(invalid) != len(placeholder) {
		t.Fatalf("replacement has %d bytes, placeholder %d", len(invalid), len(placeholder))
	}
	if bytes.Count(wire, []byte(placeholder)) != 1 {
		t.Fatal("placeholder not found exactly once in the encoded request")
	}
	return bytes.Replace(wire, []byte(placeholder), invalid, 1)
}

// rawMessage is an already encoded request message.
type rawMessage []byte

// rawClientCodec sends a rawMessage as is and decodes responses with the
// standard proto codec.
type rawClientCodec struct{}

func (rawClientCodec) Name() string { return grpcproto.Name }

func (rawClientCodec) Marshal(v any) (mem.BufferSlice, error) {
	if raw, ok := v.(rawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(raw)}, nil
	}
	return nil, fmt.Errorf("rawClientCodec: cannot marshal %T", v)
}

func (rawClientCodec) Unmarshal(data mem.BufferSlice, v any) error {
	return encoding.GetCodecV2(grpcproto.Name).Unmarshal(data, v)
}
