package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"

	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	"github.com/ecsauthz/ecsauthz/store"
)

// Defaults of [Config]. The receive limit must stay above Envoy's
// with_request_body.max_request_bytes, or a large body fails as
// RESOURCE_EXHAUSTED, which Envoy treats as an error rather than a decision.
// 8 MiB leaves room above a max_request_bytes of a few MiB plus the headers.
const (
	DefaultGRPCAddress      = "127.0.0.1:9191"
	DefaultHTTPAddress      = "127.0.0.1:9192"
	DefaultMaxRecvMsgBytes  = 8 << 20
	DefaultKeepaliveTime    = 2 * time.Minute
	DefaultKeepaliveTimeout = 20 * time.Second
	// DefaultKeepaliveMinTime is the shortest client ping interval the server
	// accepts. A client that pings more often is disconnected, which bounds
	// the cost of ping floods.
	DefaultKeepaliveMinTime = 10 * time.Second
	DefaultShutdownTimeout  = 15 * time.Second
	DefaultLogLevel         = "info"
	DefaultLogFormat        = "json"
	// DefaultGCPercent lets the heap grow to five times the live heap
	// before a collection. The live heap of a serving process is a few MiB,
	// so with Go's default of 100 the collector runs many times a second
	// under load. On a 2-vCPU AMD EPYC machine at 20,000 checks/s
	// (bench/run.sh harness, concurrency 32), 400 cut server CPU per check
	// by about 19% and raised RSS by about 13 MiB.
	DefaultGCPercent = 400
	// DefaultStreamWorkers is the number of goroutines that stay alive to
	// run calls. A call that finds them all busy gets a goroutine of its
	// own, as without workers. Under callgrind at concurrency 8, 16 workers
	// did as well as 32 and better than 4 or 64 (docs/benchmarks.md).
	DefaultStreamWorkers = 16
)

// Config is the whole service configuration: this package's listeners and
// limits plus one section per component. It is read from a YAML file and
// overridden by ECSAUTHZ_* environment variables and then by flags, as
// [ConfigFlags] describes.
type Config struct {
	GRPC GRPCConfig `yaml:"grpc"`
	HTTP HTTPConfig `yaml:"http"`
	Log  LogConfig  `yaml:"log"`
	// ShutdownTimeout is the maximum time graceful shutdown waits for
	// in-flight calls before it closes connections. Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// UnknownRouteNotFound makes a request that matches no catalog route a
	// 404 instead of a 403. Default false, which does not reveal which
	// routes exist.
	UnknownRouteNotFound bool `yaml:"unknown_route_not_found"`
	// Catalog selects the route catalog.
	Catalog CatalogConfig `yaml:"catalog"`
	// Tracing configures OpenTelemetry tracing. Default off.
	Tracing TracingConfig `yaml:"tracing"`

	// Store selects and configures the policy store.
	Store store.Config `yaml:"store"`
	// Evaluator configures policy evaluation: region, root users and policy
	// limits.
	Evaluator evaluator.Config `yaml:"evaluator"`
	// Identity configures how callers are identified: JWT, jwt_authn
	// metadata, mTLS principal or a trusted header.
	Identity identity.Config `yaml:"identity"`
	// Admin configures the policy administration API on its own listener.
	// Default disabled.
	Admin AdminConf `yaml:"admin"`
	// GCPercent is the garbage collection target percentage, as in
	// runtime/debug.SetGCPercent: a collection starts when the heap has
	// grown by this percentage of the live heap. -1 turns the collector
	// off. Default 400. The GOGC environment variable, when set, takes
	// precedence.
	GCPercent int `yaml:"gc_percent"`
}

// GRPCConfig configures the gRPC listener that serves Envoy's Check calls.
type GRPCConfig struct {
	// Address is the host:port to listen on. Default 127.0.0.1:9191.
	Address string `yaml:"address"`
	// MaxRecvMsgBytes is the largest request message accepted, in bytes.
	// Default 8 MiB. Keep it above Envoy's max_request_bytes.
	MaxRecvMsgBytes int `yaml:"max_recv_msg_bytes"`
	// KeepaliveTime is the idle time after which the server pings a client.
	// Default 2m.
	KeepaliveTime time.Duration `yaml:"keepalive_time"`
	// KeepaliveTimeout is how long the server waits for a ping reply before
	// it closes the connection. Default 20s.
	KeepaliveTimeout time.Duration `yaml:"keepalive_timeout"`
	// KeepaliveMinTime is the shortest ping interval a client may use. A
	// client that pings more often is disconnected. Default 10s.
	KeepaliveMinTime time.Duration `yaml:"keepalive_min_time"`
	// StreamWorkers is the number of goroutines kept alive to run calls,
	// so that a call reuses a goroutine whose stack has already grown
	// instead of growing a new one. -1 starts a goroutine per call.
	// Default 16.
	StreamWorkers int `yaml:"stream_workers"`
}

// HTTPConfig configures the HTTP listener for /metrics, /healthz and
// /readyz.
type HTTPConfig struct {
	// Address is the host:port to listen on. Default 127.0.0.1:9192.
	Address string `yaml:"address"`
	// Pprof serves net/http/pprof under /debug/pprof/. Default false.
	Pprof bool `yaml:"pprof"`
}

// LogConfig configures the process log on standard error.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info. Debug logs one
	// record per decision.
	Level string `yaml:"level"`
	// Format is json or text. Default json.
	Format string `yaml:"format"`
}

// CatalogConfig selects the route catalog.
type CatalogConfig struct {
	// Dir is a directory of catalog YAML files that replaces the built-in
	// catalog. Default empty: the built-in catalog.
	Dir string `yaml:"dir"`
}

// SetDefaults fills every unset field with its default.
func (c *Config) SetDefaults() {
	setDefault(&c.GRPC.Address, DefaultGRPCAddress)
	setDefault(&c.GRPC.MaxRecvMsgBytes, DefaultMaxRecvMsgBytes)
	setDefault(&c.GRPC.KeepaliveTime, DefaultKeepaliveTime)
	setDefault(&c.GRPC.KeepaliveTimeout, DefaultKeepaliveTimeout)
	setDefault(&c.GRPC.KeepaliveMinTime, DefaultKeepaliveMinTime)
	setDefault(&c.HTTP.Address, DefaultHTTPAddress)
	setDefault(&c.Log.Level, DefaultLogLevel)
	setDefault(&c.Log.Format, DefaultLogFormat)
	setDefault(&c.ShutdownTimeout, DefaultShutdownTimeout)
	setDefault(&c.GRPC.StreamWorkers, DefaultStreamWorkers)
	setDefault(&c.GCPercent, DefaultGCPercent)
	c.Tracing.setDefaults()
	c.setSectionDefaults()
}

// maxStreamWorkers bounds grpc.stream_workers. Each idle worker keeps its
// goroutine stack.
const maxStreamWorkers = 4096

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// Validate reports every invalid field at once. Each problem starts with
// the configuration key it concerns.
func (c *Config) Validate() error {
	var problems []error
	add := func(key, format string, args ...any) {
		problems = append(problems, fmt.Errorf("%s: "+format, append([]any{key}, args...)...))
	}

	if err := validateAddress(c.GRPC.Address); err != nil {
		add("grpc.address", "%v", err)
	}
	if err := validateAddress(c.HTTP.Address); err != nil {
		add("http.address", "%v", err)
	}
	if c.GRPC.MaxRecvMsgBytes < 64<<10 {
		add("grpc.max_recv_msg_bytes", "%d is below the minimum of 65536 bytes", c.GRPC.MaxRecvMsgBytes)
	}
	if c.GRPC.StreamWorkers < -1 || c.GRPC.StreamWorkers > maxStreamWorkers {
		add("grpc.stream_workers", "%d is out of range: use -1 (no workers) or 1 to %d", c.GRPC.StreamWorkers, maxStreamWorkers)
	}
	if c.GCPercent < -1 {
		add("gc_percent", "%d is out of range: use -1 (collector off) or a positive percentage", c.GCPercent)
	}
	for key, d := range map[string]time.Duration{
		"grpc.keepalive_time":     c.GRPC.KeepaliveTime,
		"grpc.keepalive_timeout":  c.GRPC.KeepaliveTimeout,
		"grpc.keepalive_min_time": c.GRPC.KeepaliveMinTime,
		"shutdown_timeout":        c.ShutdownTimeout,
	} {
		if d <= 0 {
			add(key, "must be a positive duration such as 10s, got %s", d)
		}
	}
	if _, err := parseLogLevel(c.Log.Level); err != nil {
		add("log.level", "%v", err)
	}
	if c.Log.Format != "json" && c.Log.Format != "text" {
		add("log.format", "invalid format %q: use json or text", c.Log.Format)
	}
	if c.Catalog.Dir != "" {
		if info, err := os.Stat(c.Catalog.Dir); err != nil || !info.IsDir() {
			add("catalog.dir", "%q is not a readable directory", c.Catalog.Dir)
		}
	}

	problems = append(problems, c.Tracing.validate()...)
	problems = append(problems, c.validateSections()...)
	sortProblems(problems)
	return errors.Join(problems...)
}

// validateAddress checks a listen address: host:port with a decimal port
// from 0 to 65535, where 0 picks a free port. The host may be empty (all
// interfaces).
func validateAddress(address string) error {
	if address == "" {
		return errors.New("missing host:port")
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("invalid host:port %q: %w", address, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return fmt.Errorf("invalid host:port %q: port %q must be a number from 0 to 65535", address, port)
	}
	return nil
}

// unjoinErrors splits a joined error into its parts.
func unjoinErrors(err error) []error {
	if err == nil {
		return nil
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		return joined.Unwrap()
	}
	return []error{err}
}

func sortProblems(problems []error) {
	slices.SortStableFunc(problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
}

// LoadConfigFile reads a YAML configuration file. Unknown keys are errors.
func LoadConfigFile(path string, conf *Config) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("failed to read config file: %w", err)
	}
	if err := parseConfig(data, conf); err != nil {
		return fmt.Errorf("failed to parse config file %s: %w", path, err)
	}
	return nil
}

// parseConfig decodes YAML configuration into conf. Unknown keys are errors.
func parseConfig(data []byte, conf *Config) (err error) {
	// NOTE: goccy/go-yaml v1.19.2 panics on some malformed input, such as a
	// tag on a sequence value followed by garbage (see the FuzzParseConfig
	// corpus in testdata/fuzz). A bad config file must yield an error, not
	// crash the process.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("invalid YAML: the parser failed: %v", p)
		}
	}()
	return yaml.UnmarshalWithOptions(data, conf, yaml.Strict())
}

// envName returns the environment variable that overrides a key:
// "grpc.address" becomes ECSAUTHZ_GRPC_ADDRESS.
func envName(key string) string {
	return "ECSAUTHZ_" + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(key))
}

// flagName returns the flag that overrides a key: "grpc.address" becomes
// -grpc-address.
func flagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}
