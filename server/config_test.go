package server

import (
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadConfig parses args with a fresh flag set and loads the configuration
// with env as the environment.
func loadConfig(t *testing.T, args []string, env map[string]string) (*Config, error) {
	t.Helper()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	flags := NewConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("flag parse: %v", err)
	}
	return flags.Load(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestConfigDefaults(t *testing.T) {
	conf, err := loadConfig(t, []string{"-store-dir", "../examples/policies", "-identity-jwt-jwks-file", "../examples/jwks/jwks.json"}, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	checks := []struct {
		key       string
		got, want any
	}{
		{"grpc.address", conf.GRPC.Address, DefaultGRPCAddress},
		{"http.address", conf.HTTP.Address, DefaultHTTPAddress},
		{"grpc.max_recv_msg_bytes", conf.GRPC.MaxRecvMsgBytes, 8 << 20},
		{"shutdown_timeout", conf.ShutdownTimeout, DefaultShutdownTimeout},
		{"log.level", conf.Log.Level, "info"},
		{"log.format", conf.Log.Format, "json"},
		{"store.backend", conf.Store.Backend, "file"},
		{"unknown_route_not_found", conf.UnknownRouteNotFound, false},
		{"grpc.stream_workers", conf.GRPC.StreamWorkers, DefaultStreamWorkers},
		{"gc_percent", conf.GCPercent, DefaultGCPercent},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.key, c.got, c.want)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	file := writeFile(t, "ecsauthz.yaml", `
grpc:
  address: 127.0.0.1:7001
http:
  address: 127.0.0.1:7002
log:
  level: warn
shutdown_timeout: 3s
store:
  dir: ../examples/policies
identity:
  jwt:
    jwks_file: ../examples/jwks/jwks.json
`)
	env := map[string]string{
		"ECSAUTHZ_CONFIG":       file,
		"ECSAUTHZ_HTTP_ADDRESS": "127.0.0.1:8002",
		"ECSAUTHZ_LOG_LEVEL":    "error",
	}
	conf, err := loadConfig(t, []string{"-log-level", "debug"}, env)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	checks := []struct {
		key, got, want string
	}{
		{"grpc.address (file)", conf.GRPC.Address, "127.0.0.1:7001"},
		{"http.address (env over file)", conf.HTTP.Address, "127.0.0.1:8002"},
		{"log.level (flag over env)", conf.Log.Level, "debug"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.key, c.got, c.want)
		}
	}
	if conf.ShutdownTimeout != 3*time.Second {
		t.Errorf("shutdown_timeout = %v, want 3s", conf.ShutdownTimeout)
	}
}

func TestConfigReportsEveryProblem(t *testing.T) {
	file := writeFile(t, "bad.yaml", `
grpc:
  address: nonsense
  max_recv_msg_bytes: 10
log:
  level: loud
  format: xml
store:
  backend: floppy
`)
	_, err := loadConfig(t, []string{"-config", file, "-shutdown-timeout", "soon", "-grpc-stream-workers", "-2", "-gc-percent", "-5"}, map[string]string{"ECSAUTHZ_HTTP_PPROF": "maybe"})
	if err == nil {
		t.Fatal("invalid configuration loaded without error")
	}
	for _, want := range []string{
		"grpc.address:",
		"grpc.max_recv_msg_bytes:",
		"log.level:",
		"log.format:",
		"store.backend:",
		"shutdown_timeout (flag -shutdown-timeout)",
		"http.pprof (env ECSAUTHZ_HTTP_PPROF)",
		"grpc.stream_workers:",
		"gc_percent:",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestConfigListenAddress(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string // "" for valid
	}{
		{"port zero", []string{"-grpc-address", "127.0.0.1:0"}, ""},
		{"max port", []string{"-grpc-address", "127.0.0.1:65535"}, ""},
		{"all interfaces", []string{"-http-address", ":9192"}, ""},
		{"ipv6", []string{"-grpc-address", "[::1]:9191"}, ""},
		{"port too large", []string{"-grpc-address", "127.0.0.1:99999"}, `grpc.address: invalid host:port "127.0.0.1:99999": port "99999" must be a number from 0 to 65535`},
		{"negative port", []string{"-http-address", "127.0.0.1:-1"}, `http.address: invalid host:port "127.0.0.1:-1"`},
		{"service name port", []string{"-http-address", "127.0.0.1:http"}, `port "http" must be a number`},
		{"empty port", []string{"-grpc-address", "127.0.0.1:"}, `port "" must be a number`},
		{"no port", []string{"-grpc-address", "127.0.0.1"}, "missing port in address"},
		{"admin port too large", []string{"-admin-enabled", "-admin-bearer-token-file", "token", "-admin-listen", "127.0.0.1:99999"}, `admin.listen: invalid host:port "127.0.0.1:99999"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"-store-dir", "../examples/policies", "-identity-jwt-jwks-file", "../examples/jwks/jwks.json"}, tt.args...)
			_, err := loadConfig(t, args, nil)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("load %v: %v", tt.args, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("load %v error = %v, want it to contain %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestConfigReportsBothBadAddresses(t *testing.T) {
	_, err := loadConfig(t, []string{"-grpc-address", "127.0.0.1:99999", "-http-address", "127.0.0.1:70000", "-log-level", "loud"}, nil)
	if err == nil {
		t.Fatal("invalid addresses loaded without error")
	}
	for _, want := range []string{"grpc.address", "http.address", "log.level"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

func TestConfigFileUnknownKey(t *testing.T) {
	file := writeFile(t, "typo.yaml", "grpc:\n  adress: 127.0.0.1:1\n")
	_, err := loadConfig(t, []string{"-config", file}, nil)
	if err == nil || !strings.Contains(err.Error(), "adress") {
		t.Errorf("err = %v, want an error naming the unknown key adress", err)
	}
}

func TestConfigKeyNames(t *testing.T) {
	for _, tc := range []struct{ key, flag, env string }{
		{"grpc.address", "grpc-address", "ECSAUTHZ_GRPC_ADDRESS"},
		{"identity.jwt.jwks_file", "identity-jwt-jwks-file", "ECSAUTHZ_IDENTITY_JWT_JWKS_FILE"},
		{"shutdown_timeout", "shutdown-timeout", "ECSAUTHZ_SHUTDOWN_TIMEOUT"},
	} {
		if got := flagName(tc.key); got != tc.flag {
			t.Errorf("flagName(%q) = %q, want %q", tc.key, got, tc.flag)
		}
		if got := envName(tc.key); got != tc.env {
			t.Errorf("envName(%q) = %q, want %q", tc.key, got, tc.env)
		}
	}
}

// FuzzParseConfig checks that no YAML input makes parsing, defaulting or
// validation panic. Run it with: go test -fuzz FuzzParseConfig ./server
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("grpc:\n  address: 127.0.0.1:9191\nlog:\n  level: debug\n"))
	f.Add([]byte("store:\n  backend: etcd\n  endpoints: [http://127.0.0.1:2379]\n"))
	f.Add([]byte("identity:\n  sources: [jwt, header]\n  header:\n    enabled: true\n"))
	f.Add([]byte("shutdown_timeout: -1s\ntracing: {enabled: true, sample_ratio: 7}\n"))
	f.Add([]byte("grpc: [1, 2]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		conf := &Config{}
		if err := parseConfig(data, conf); err != nil {
			return
		}
		conf.SetDefaults()
		_ = conf.Validate()
	})
}

func TestParseConfigMalformedYAML(t *testing.T) {
	// Found by FuzzParseConfig: goccy/go-yaml v1.19.2 panics on this input.
	data := []byte("identity:\n  sources: !00000000000000\n00000000:0000000000000000000")
	err := parseConfig(data, &Config{})
	if err == nil || !strings.Contains(err.Error(), "invalid YAML") {
		t.Errorf("err = %v, want an invalid YAML error", err)
	}
}

func TestConfigBoolFlagWithoutValue(t *testing.T) {
	conf, err := loadConfig(t, []string{"-http-pprof", "-store-dir", "../examples/policies"}, nil)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !conf.HTTP.Pprof {
		t.Error("-http-pprof without a value did not enable pprof")
	}
}
