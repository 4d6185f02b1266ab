package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Backend names accepted in [Config.Backend].
const (
	BackendFile     = "file"
	BackendPostgres = "postgres"
	BackendEtcd     = "etcd"
)

// Defaults of [Config]. The debounce and sync interval keep a change
// visible well within a second while coalescing the burst of events an
// editor or an import produces.
const (
	DefaultBackend      = BackendFile
	DefaultDir          = "examples/policies"
	DefaultPrefix       = "/ecsauthz/"
	DefaultDebounce     = 100 * time.Millisecond
	DefaultSyncInterval = time.Second
	DefaultDialTimeout  = 5 * time.Second
)

// Config selects and configures the policy store backend.
type Config struct {
	// Backend is the store backend: file, postgres or etcd. Default file.
	Backend string `yaml:"backend" json:"backend"`
	// Dir is the file store directory. Default examples/policies.
	Dir string `yaml:"dir" json:"dir"`
	// DSN is the PostgreSQL connection string, required for postgres.
	DSN string `yaml:"dsn" json:"dsn"`
	// Endpoints are the etcd client URLs, required for etcd.
	Endpoints []string `yaml:"endpoints" json:"endpoints"`
	// Prefix is the etcd key prefix, ending in "/". Default /ecsauthz/.
	Prefix string `yaml:"prefix" json:"prefix"`
	// MaxStaleness is the maximum age of the served snapshot, counted from
	// the last time the store confirmed it. Older snapshots make checks deny
	// with policy_unavailable. Zero, the default, turns the limit off.
	MaxStaleness time.Duration `yaml:"max_staleness" json:"max_staleness"`
	// Debounce is how long a watch waits after a change for further
	// changes before it reloads. Default 100ms.
	Debounce time.Duration `yaml:"debounce" json:"debounce"`
	// SyncInterval is how often the reloader pings the store to confirm
	// that the served snapshot is current. Default 1s.
	SyncInterval time.Duration `yaml:"sync_interval" json:"sync_interval"`
	// DialTimeout bounds each connection attempt to PostgreSQL or etcd.
	// Default 5s.
	DialTimeout time.Duration `yaml:"dial_timeout" json:"dial_timeout"`
}

// SetDefaults fills in every unset field with its default.
func (c *Config) SetDefaults() {
	if c.Backend == "" {
		c.Backend = DefaultBackend
	}
	if c.Backend == BackendFile && c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Debounce == 0 {
		c.Debounce = DefaultDebounce
	}
	if c.SyncInterval == 0 {
		c.SyncInterval = DefaultSyncInterval
	}
	if c.DialTimeout == 0 {
		c.DialTimeout = DefaultDialTimeout
	}
}

// Validate reports every problem of the configuration at once, each naming
// its key under "store.".
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.Backend {
	case BackendFile:
		if c.Dir == "" {
			bad("store.dir: required for the file backend")
		}
	case BackendPostgres:
		if c.DSN == "" {
			bad("store.dsn: required for the postgres backend")
		}
	case BackendEtcd:
		if len(c.Endpoints) == 0 {
			bad("store.endpoints: required for the etcd backend")
		}
		for _, ep := range c.Endpoints {
			if ep == "" {
				bad("store.endpoints: empty endpoint")
			}
		}
		if !strings.HasPrefix(c.Prefix, "/") || !strings.HasSuffix(c.Prefix, "/") {
			bad("store.prefix: %q must start and end with /", c.Prefix)
		}
	default:
		bad("store.backend: invalid value %q: want file, postgres or etcd", c.Backend)
	}
	if c.MaxStaleness < 0 {
		bad("store.max_staleness: %s is negative", c.MaxStaleness)
	}
	if c.Debounce < 0 {
		bad("store.debounce: %s is negative", c.Debounce)
	}
	if c.SyncInterval < 0 {
		bad("store.sync_interval: %s is negative", c.SyncInterval)
	}
	if c.MaxStaleness > 0 && c.SyncInterval >= c.MaxStaleness {
		bad("store.sync_interval: %s must be shorter than store.max_staleness %s", c.SyncInterval, c.MaxStaleness)
	}
	if c.DialTimeout < 0 {
		bad("store.dial_timeout: %s is negative", c.DialTimeout)
	}
	return errors.Join(errs...)
}

// Open validates conf (after [Config.SetDefaults]) and returns its backend.
// The PostgreSQL and etcd stores it returns also implement [Writer].
func Open(ctx context.Context, conf Config, opts ...Option) (Store, error) {
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		return nil, err
	}
	opts = append([]Option{WithDebounce(conf.Debounce)}, opts...)
	switch conf.Backend {
	case BackendPostgres:
		st, err := NewPostgresStore(ctx, conf.DSN, opts...)
		if err != nil {
			return nil, err
		}
		return st, nil
	case BackendEtcd:
		st, err := NewEtcdStore(ctx, EtcdConfig{Endpoints: conf.Endpoints, Prefix: conf.Prefix, DialTimeout: conf.DialTimeout}, opts...)
		if err != nil {
			return nil, err
		}
		return st, nil
	default:
		return NewFileStore(conf.Dir, opts...), nil
	}
}

// AsWriter returns st as a [Writer], or [ErrReadOnly] for a backend that
// does not accept writes.
func AsWriter(st Store) (Writer, error) {
	w, ok := st.(Writer)
	if !ok {
		return nil, fmt.Errorf("%T: %w", st, ErrReadOnly)
	}
	return w, nil
}
