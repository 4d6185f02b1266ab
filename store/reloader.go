package store

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ReloaderConfig configures a [Reloader].
type ReloaderConfig struct {
	// MaxStaleness is the maximum age of the snapshot, counted from the last
	// time the store confirmed it. [Reloader.Current] reports an older
	// snapshot unusable. Zero turns the limit off.
	MaxStaleness time.Duration
	// SyncInterval is how often the reloader pings the store to confirm the
	// snapshot. Default [DefaultSyncInterval].
	SyncInterval time.Duration
	// Logger receives reload successes and failures. Default slog.Default().
	Logger *slog.Logger
	// Registerer receives the reload metrics; nil registers none.
	Registerer prometheus.Registerer
	// Retain returns the part of a compiled snapshot that the reloader keeps
	// for [Reloader.Snapshot] while the snapshot is in force. Nil keeps the
	// whole snapshot. Dropping the data that the compiled value does not
	// reference lets the garbage collector free it.
	Retain func(*Snapshot) *Snapshot
	// BeforeSwap, when set, is called after a snapshot compiled and before
	// its value is put in force, with the snapshot Retain returned and
	// whether it is the first snapshot. The reloader no longer references
	// the rest of the snapshot then, so a hook that forces a collection
	// (such as debug.FreeOSMemory) also frees what Retain dropped. Until
	// the hook returns, the previous value stays in force and, for the
	// first snapshot, [Reloader.Ready] is false.
	BeforeSwap func(retained *Snapshot, first bool)
}

// Health is the state of a [Reloader] for readiness probes and logs.
type Health struct {
	// Ready is true once a snapshot has been loaded and compiled.
	Ready bool `json:"ready"`
	// Usable is true when Ready and the snapshot is within the maximum
	// staleness.
	Usable bool `json:"usable"`
	// InSync is false while the store is unreachable or its current
	// content fails to load or compile.
	InSync   bool      `json:"in_sync"`
	Revision string    `json:"revision,omitempty"`
	LoadedAt time.Time `json:"loaded_at,omitzero"`
	// SyncedAt is the last time the store confirmed the snapshot.
	SyncedAt time.Time `json:"synced_at,omitzero"`
	// AgeSeconds is the time since SyncedAt.
	AgeSeconds          float64   `json:"age_seconds"`
	Successes           uint64    `json:"successes"`
	Failures            uint64    `json:"failures"`
	ConsecutiveFailures uint64    `json:"consecutive_failures"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
}

// Reloader keeps the compiled form of a store's latest good snapshot.
//
// It watches the store, compiles every new snapshot with the compile
// function and swaps the result in atomically, so checks that already hold
// the old value finish on it. A snapshot that fails to load or compile is
// reported in the log, the metrics and [Reloader.Health], and the last good
// value stays in force.
//
// The snapshot age counts from the last time the store confirmed the
// served snapshot: a successful load or a successful ping while the watch
// is in sync. It grows while the store is unreachable and also while the
// store holds content that fails to load or compile, because in both cases
// the served snapshot no longer matches the store.
type Reloader[T any] struct {
	store   Store
	compile func(*Snapshot) (T, error)
	conf    ReloaderConfig
	log     *slog.Logger
	now     func() time.Time

	current  atomic.Pointer[compiled[T]]
	syncedAt atomic.Int64 // Unix nanoseconds; 0 before the first load
	// contentOK is true from a successful load until a load, compile or
	// watch error. unreachable is true from a failed ping until a
	// successful ping or load. The snapshot is in sync when contentOK is
	// true and unreachable is false.
	contentOK   atomic.Bool
	unreachable atomic.Bool

	mu     sync.Mutex // guards health
	health Health

	metrics *reloadMetrics
}

type compiled[T any] struct {
	value T
	snap  *Snapshot
}

// NewReloader returns a reloader for st. compile turns a snapshot into the
// value [Reloader.Current] returns. The reloader does nothing until
// [Reloader.Run].
func NewReloader[T any](st Store, compile func(*Snapshot) (T, error), conf ReloaderConfig) (*Reloader[T], error) {
	if conf.SyncInterval <= 0 {
		conf.SyncInterval = DefaultSyncInterval
	}
	if conf.Logger == nil {
		conf.Logger = slog.Default()
	}
	r := &Reloader[T]{store: st, compile: compile, conf: conf, log: conf.Logger, now: time.Now}
	m, err := newReloadMetrics(conf.Registerer, r.ageSeconds, r.usableValue, r.inSyncValue)
	if err != nil {
		return nil, err
	}
	r.metrics = m
	return r, nil
}

// Run watches the store until ctx is done and then returns ctx.Err().
// Call it once per reloader.
// When the watch stops with an error it is reported and restarted after a
// backoff of up to [maxBackoff].
func (r *Reloader[T]) Run(ctx context.Context) error {
	go r.pingLoop(ctx)
	backoff := minBackoff
	for {
		err := r.store.Watch(ctx, r.apply, r.fail)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			r.fail(fmt.Errorf("store watch stopped: %w", err))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// Backoff bounds of [Reloader.Run] and of the database watches.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// Current returns the compiled value of the last good snapshot and whether
// it may be used: false before the first load and when the snapshot is
// older than the maximum staleness. The zero T comes with false before the
// first load.
func (r *Reloader[T]) Current() (T, bool) {
	c := r.current.Load()
	if c == nil {
		var zero T
		return zero, false
	}
	if r.conf.MaxStaleness > 0 && r.now().UnixNano()-r.syncedAt.Load() > int64(r.conf.MaxStaleness) {
		return c.value, false
	}
	return c.value, true
}

// Snapshot returns the last good snapshot, or nil before the first load.
// With [ReloaderConfig.Retain] set it is the part of the snapshot that
// Retain returned.
func (r *Reloader[T]) Snapshot() *Snapshot {
	if c := r.current.Load(); c != nil {
		return c.snap
	}
	return nil
}

// Ready reports whether a snapshot has been loaded and compiled.
func (r *Reloader[T]) Ready() bool { return r.current.Load() != nil }

// WaitReady blocks until the first snapshot is in force or ctx is done.
func (r *Reloader[T]) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !r.Ready() {
		select {
		case <-ctx.Done():
			return fmt.Errorf("policy store not ready: %w", ctx.Err())
		case <-t.C:
		}
	}
	return nil
}

// Health returns the current state.
func (r *Reloader[T]) Health() Health {
	r.mu.Lock()
	h := r.health
	r.mu.Unlock()
	_, h.Usable = r.Current()
	h.InSync = r.inSync()
	if ns := r.syncedAt.Load(); ns > 0 {
		h.SyncedAt = time.Unix(0, ns)
		h.AgeSeconds = r.ageSeconds()
	}
	return h
}

// apply compiles snap and swaps it in. A snapshot with the revision in
// force only confirms it. The store's watch calls apply from one goroutine,
// so compiles never overlap. The lock is not held during the compile, so
// [Reloader.Health] does not wait for it.
func (r *Reloader[T]) apply(snap *Snapshot) {
	if c := r.current.Load(); c != nil && c.snap.Revision == snap.Revision && snap.Revision != "" {
		r.markSynced()
		return
	}

	start := r.now()
	value, err := r.compile(snap)
	if err != nil {
		r.fail(fmt.Errorf("failed to compile snapshot %s: %w", snap.Revision, err))
		return
	}
	compileDuration := r.now().Sub(start)
	policies, grants := len(snap.Data.Policies), len(snap.Data.Grants)
	retained := snap
	if r.conf.Retain != nil {
		retained = r.conf.Retain(snap)
	}
	// From here on only retained is used, so that the parts of the snapshot
	// that Retain dropped are garbage before the hook runs.
	snap = nil
	if r.conf.BeforeSwap != nil {
		r.conf.BeforeSwap(retained, r.current.Load() == nil)
	}
	r.current.Store(&compiled[T]{value: value, snap: retained})
	r.markSynced()

	r.mu.Lock()
	defer r.mu.Unlock()
	r.health.Ready = true
	r.health.Revision = retained.Revision
	r.health.LoadedAt = retained.LoadedAt
	r.health.Successes++
	r.health.ConsecutiveFailures = 0
	r.metrics.success(r.now())
	r.log.Info("policy snapshot loaded", "revision", retained.Revision,
		"policies", policies, "grants", grants, "compile_duration", compileDuration)
}

func (r *Reloader[T]) markSynced() {
	r.syncedAt.Store(r.now().UnixNano())
	r.contentOK.Store(true)
	r.unreachable.Store(false)
}

func (r *Reloader[T]) inSync() bool { return r.contentOK.Load() && !r.unreachable.Load() }

// fail records a failed load or a store outage; the last good snapshot
// stays in force.
func (r *Reloader[T]) fail(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failLocked(err)
}

func (r *Reloader[T]) failLocked(err error) {
	r.contentOK.Store(false)
	r.record(err)
}

// record counts and logs a failure.
func (r *Reloader[T]) record(err error) {
	r.health.Failures++
	r.health.ConsecutiveFailures++
	r.health.LastError = err.Error()
	r.health.LastErrorAt = r.now()
	r.metrics.failure()

	// Repeats of one outage are logged at powers of two, so a long outage
	// does not flood the log.
	if n := r.health.ConsecutiveFailures; n&(n-1) == 0 {
		attrs := []any{"error", err, "consecutive_failures", n}
		if r.health.Revision != "" {
			attrs = append(attrs, "revision", r.health.Revision)
		}
		r.log.Error("policy store reload failed; keeping the last good snapshot", attrs...)
	}
}

// pingLoop confirms the snapshot every sync interval while the watch is
// in sync. A watch that reconnects on its own without a new load (etcd)
// relies on this to leave the outage state.
func (r *Reloader[T]) pingLoop(ctx context.Context) {
	t := time.NewTicker(r.conf.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, r.conf.SyncInterval)
		err := r.store.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			r.unreachable.Store(false)
			if r.contentOK.Load() {
				r.syncedAt.Store(r.now().UnixNano())
			}
		case ctx.Err() == nil:
			r.unreachable.Store(true)
			r.mu.Lock()
			r.record(fmt.Errorf("failed to ping policy store: %w", err))
			r.mu.Unlock()
		}
	}
}

func (r *Reloader[T]) ageSeconds() float64 {
	ns := r.syncedAt.Load()
	if ns == 0 {
		return 0
	}
	return time.Duration(r.now().UnixNano() - ns).Seconds()
}

func (r *Reloader[T]) inSyncValue() float64 {
	if r.inSync() {
		return 1
	}
	return 0
}

func (r *Reloader[T]) usableValue() float64 {
	if _, ok := r.Current(); ok {
		return 1
	}
	return 0
}

// reloadMetrics are the Prometheus metrics of one reloader.
type reloadMetrics struct {
	reloads     *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newReloadMetrics(reg prometheus.Registerer, age, usable, inSync func() float64) (*reloadMetrics, error) {
	m := &reloadMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ecsauthz_store_reloads_total",
			Help: "Policy store reloads by result (success or failure).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ecsauthz_store_last_success_timestamp_seconds",
			Help: "Unix time of the last snapshot that loaded and compiled.",
		}),
	}
	m.reloads.WithLabelValues("success")
	m.reloads.WithLabelValues("failure")
	if reg == nil {
		return m, nil
	}
	collectors := []prometheus.Collector{
		m.reloads, m.lastSuccess,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ecsauthz_store_snapshot_age_seconds",
			Help: "Seconds since the store last confirmed the served snapshot.",
		}, age),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ecsauthz_store_snapshot_usable",
			Help: "1 when a snapshot is loaded and within the maximum staleness, else 0.",
		}, usable),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "ecsauthz_store_in_sync",
			Help: "1 when the store is reachable and its content loaded and compiled, else 0.",
		}, inSync),
	}
	for _, c := range collectors {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("failed to register store metrics: %w", err)
		}
	}
	return m, nil
}

func (m *reloadMetrics) success(now time.Time) {
	m.reloads.WithLabelValues("success").Inc()
	m.lastSuccess.Set(float64(now.UnixNano()) / 1e9)
}

func (m *reloadMetrics) failure() { m.reloads.WithLabelValues("failure").Inc() }
