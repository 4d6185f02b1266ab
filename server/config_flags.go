package server

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// setting is one configuration key that an environment variable and a flag
// can override.
type setting struct {
	key   string // YAML key path, e.g. "grpc.address"
	usage string
	// isBool marks a flag that may be given without a value.
	isBool bool
	set    func(c *Config, value string) error
	get    func(c *Config) string
}

func stringSetting(key, usage string, field func(*Config) *string) setting {
	return setting{
		key: key, usage: usage,
		set: func(c *Config, v string) error {
			*field(c) = v
			return nil
		},
		get: func(c *Config) string { return *field(c) },
	}
}

func stringsSetting(key, usage string, field func(*Config) *[]string) setting {
	return setting{
		key: key, usage: usage + ", comma-separated",
		set: func(c *Config, v string) error {
			var values []string
			for _, part := range strings.Split(v, ",") {
				if part = strings.TrimSpace(part); part != "" {
					values = append(values, part)
				}
			}
			*field(c) = values
			return nil
		},
		get: func(c *Config) string { return strings.Join(*field(c), ",") },
	}
}

func intSetting(key, usage string, field func(*Config) *int) setting {
	return setting{
		key: key, usage: usage,
		set: func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("invalid integer %q: use a whole number such as 8388608", v)
			}
			*field(c) = n
			return nil
		},
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
	}
}

func floatSetting(key, usage string, field func(*Config) *float64) setting {
	return setting{
		key: key, usage: usage,
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("invalid number %q: use a decimal such as 0.05", v)
			}
			*field(c) = f
			return nil
		},
		get: func(c *Config) string { return strconv.FormatFloat(*field(c), 'g', -1, 64) },
	}
}

func boolSetting(key, usage string, field func(*Config) *bool) setting {
	return setting{
		key: key, usage: usage, isBool: true,
		set: func(c *Config, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("invalid boolean %q: use true or false", v)
			}
			*field(c) = b
			return nil
		},
		get: func(c *Config) string { return strconv.FormatBool(*field(c)) },
	}
}

func durationSetting(key, usage string, field func(*Config) *time.Duration) setting {
	return setting{
		key: key, usage: usage,
		set: func(c *Config, v string) error {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("invalid duration %q: use a value such as 500ms or 10s", v)
			}
			*field(c) = d
			return nil
		},
		get: func(c *Config) string { return field(c).String() },
	}
}

// serverSettings are this package's own overridable keys.
var serverSettings = []setting{
	stringSetting("grpc.address", "gRPC listen address host:port", func(c *Config) *string { return &c.GRPC.Address }),
	intSetting("grpc.max_recv_msg_bytes", "largest gRPC request accepted, in bytes", func(c *Config) *int { return &c.GRPC.MaxRecvMsgBytes }),
	durationSetting("grpc.keepalive_time", "idle time before the server pings a client", func(c *Config) *time.Duration { return &c.GRPC.KeepaliveTime }),
	durationSetting("grpc.keepalive_timeout", "time to wait for a ping reply", func(c *Config) *time.Duration { return &c.GRPC.KeepaliveTimeout }),
	durationSetting("grpc.keepalive_min_time", "shortest client ping interval allowed", func(c *Config) *time.Duration { return &c.GRPC.KeepaliveMinTime }),
	intSetting("grpc.stream_workers", "goroutines kept alive to run calls; -1 starts one per call", func(c *Config) *int { return &c.GRPC.StreamWorkers }),
	intSetting("gc_percent", "garbage collection target percentage (debug.SetGCPercent); -1 turns the collector off; GOGC, when set, takes precedence", func(c *Config) *int { return &c.GCPercent }),
	stringSetting("http.address", "HTTP listen address host:port for /metrics, /healthz and /readyz", func(c *Config) *string { return &c.HTTP.Address }),
	boolSetting("http.pprof", "serve net/http/pprof under /debug/pprof/", func(c *Config) *bool { return &c.HTTP.Pprof }),
	stringSetting("log.level", "log level: debug, info, warn or error", func(c *Config) *string { return &c.Log.Level }),
	stringSetting("log.format", "log format: json or text", func(c *Config) *string { return &c.Log.Format }),
	durationSetting("shutdown_timeout", "maximum graceful shutdown time", func(c *Config) *time.Duration { return &c.ShutdownTimeout }),
	boolSetting("unknown_route_not_found", "answer 404 instead of 403 for a request that matches no route", func(c *Config) *bool { return &c.UnknownRouteNotFound }),
	boolSetting("tracing.enabled", "export OpenTelemetry spans of gRPC calls over OTLP/gRPC", func(c *Config) *bool { return &c.Tracing.Enabled }),
	stringSetting("tracing.endpoint", "OTLP/gRPC collector host:port", func(c *Config) *string { return &c.Tracing.Endpoint }),
	boolSetting("tracing.insecure", "send spans to the collector without TLS", func(c *Config) *bool { return &c.Tracing.Insecure }),
	floatSetting("tracing.sample_ratio", "fraction of calls traced when no sampled parent span is present, 0 to 1", func(c *Config) *float64 { return &c.Tracing.SampleRatio }),
	stringSetting("catalog.dir", "directory of catalog YAML files replacing the built-in catalog", func(c *Config) *string { return &c.Catalog.Dir }),
}

// allSettings returns the settings of this package and of every section.
func allSettings() []setting {
	return append(append([]setting(nil), serverSettings...), sectionSettings...)
}

// ConfigFlags binds the configuration to a flag set. Values apply in this
// order, each overriding the one before: defaults, the YAML file named by
// -config or ECSAUTHZ_CONFIG, ECSAUTHZ_* environment variables, flags.
type ConfigFlags struct {
	file     string
	settings []setting
	values   map[string]string // flag values by key, in the order set
	order    []string
}

// NewConfigFlags registers -config and one flag per configuration key on fs.
// The help text of each flag names its key, environment variable and
// default.
func NewConfigFlags(fs *flag.FlagSet) *ConfigFlags {
	f := &ConfigFlags{settings: allSettings(), values: map[string]string{}}
	fs.StringVar(&f.file, "config", "", "YAML configuration `file` (env ECSAUTHZ_CONFIG)")

	defaults := &Config{}
	defaults.SetDefaults()
	for _, s := range f.settings {
		key := s.key
		usage := fmt.Sprintf("%s (key %s, env %s", s.usage, key, envName(key))
		if def := s.get(defaults); def != "" && def != "0" && def != "0s" && def != "false" {
			usage += ", default " + def
		}
		usage += ")"
		record := func(v string) error {
			if _, seen := f.values[key]; !seen {
				f.order = append(f.order, key)
			}
			f.values[key] = v
			return nil
		}
		if s.isBool {
			fs.BoolFunc(flagName(key), usage, func(v string) error { return record(v) })
		} else {
			fs.Func(flagName(key), usage, record)
		}
	}
	return f
}

// Load builds the configuration from the file, the environment (read
// through lookupEnv, usually os.LookupEnv) and the parsed flags, fills in
// defaults and validates it. The error lists every problem found.
func (f *ConfigFlags) Load(lookupEnv func(string) (string, bool)) (*Config, error) {
	conf := &Config{}
	file := f.file
	if file == "" {
		file, _ = lookupEnv("ECSAUTHZ_CONFIG")
	}
	if file != "" {
		if err := LoadConfigFile(file, conf); err != nil {
			return nil, err
		}
	}

	var problems []error
	for _, s := range f.settings {
		if v, ok := lookupEnv(envName(s.key)); ok {
			if err := s.set(conf, v); err != nil {
				problems = append(problems, fmt.Errorf("%s (env %s): %w", s.key, envName(s.key), err))
			}
		}
	}
	for _, key := range f.order {
		s := f.setting(key)
		if err := s.set(conf, f.values[key]); err != nil {
			problems = append(problems, fmt.Errorf("%s (flag -%s): %w", key, flagName(key), err))
		}
	}

	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("invalid configuration:\n%w", errors.Join(problems...))
	}
	return conf, nil
}

func (f *ConfigFlags) setting(key string) setting {
	for _, s := range f.settings {
		if s.key == key {
			return s
		}
	}
	panic("server: no setting for key " + key)
}
