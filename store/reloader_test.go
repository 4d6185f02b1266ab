package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// waitFor polls cond until it holds or the generous timeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func snapshotOf(s *Snapshot) (*Snapshot, error) { return s, nil }

func startReloader[T any](t *testing.T, st Store, compile func(*Snapshot) (T, error), conf ReloaderConfig) *Reloader[T] {
	t.Helper()
	r, err := NewReloader(st, compile, conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return r
}

func TestReloaderFileChanges(t *testing.T) {
	dir := copyExample(t)
	reg := prometheus.NewRegistry()
	r := startReloader(t, NewFileStore(dir, WithDebounce(20*time.Millisecond)), snapshotOf,
		ReloaderConfig{Registerer: reg, SyncInterval: 50 * time.Millisecond})

	if _, ok := r.Current(); ok {
		// The first load may already be done; only a zero value is wrong.
		if r.Snapshot() == nil {
			t.Fatal("Current usable without a snapshot")
		}
	}
	waitFor(t, "initial load", r.Ready)
	first := r.Snapshot()

	// A grant added reaches the snapshot.
	appendFile(t, filepath.Join(dir, "grants.yaml"),
		"  - {policy: ECS ReadOnlyAccess, user: u-0005, scope: project, scope_id: p2}\n")
	waitFor(t, "grant added", func() bool { return len(r.Snapshot().Data.Grants) == 6 })

	// A broken file leaves the last good snapshot in force and is reported.
	good := r.Snapshot()
	writeFile(t, filepath.Join(dir, "policies", "broken.json"), "{\n  \"Version\": \"1.1\",\n  oops\n}\n")
	waitFor(t, "failure reported", func() bool { return r.Health().Failures > 0 })
	h := r.Health()
	if !strings.Contains(h.LastError, "broken.json:3:") {
		t.Errorf("LastError = %q, want broken.json:3", h.LastError)
	}
	if h.InSync {
		t.Error("InSync after a failed reload")
	}
	if r.Snapshot() != good {
		t.Error("snapshot replaced by a broken store")
	}
	if _, ok := r.Current(); !ok {
		t.Error("Current unusable after a failed reload, want the last good snapshot")
	}
	if got := metricValue(t, reg, "ecsauthz_store_in_sync", ""); got != 0 {
		t.Errorf("in-sync gauge after a failed reload = %v, want 0", got)
	}
	if got := metricValue(t, reg, "ecsauthz_store_reloads_total", "failure"); got < 1 {
		t.Errorf("failure counter = %v, want >= 1", got)
	}

	// Fixing the file recovers.
	writeFile(t, filepath.Join(dir, "policies", "broken.json"), `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:get*"]}]}`)
	waitFor(t, "recovery", func() bool { return len(r.Snapshot().Data.Policies) == 2 })
	waitFor(t, "in sync", func() bool { return r.Health().InSync })
	if r.Snapshot().Revision == first.Revision {
		t.Error("revision unchanged after changes")
	}
	if got := metricValue(t, reg, "ecsauthz_store_reloads_total", "success"); got < 3 {
		t.Errorf("success counter = %v, want >= 3", got)
	}
	if got := metricValue(t, reg, "ecsauthz_store_snapshot_usable", ""); got != 1 {
		t.Errorf("usable gauge = %v, want 1", got)
	}
	if got := metricValue(t, reg, "ecsauthz_store_last_success_timestamp_seconds", ""); got < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("last success timestamp = %v, want within the last minute", got)
	}
	if got := metricValue(t, reg, "ecsauthz_store_snapshot_age_seconds", ""); got < 0 || got > 10 {
		t.Errorf("snapshot age = %v, want between 0 and 10 seconds", got)
	}
}

func TestReloaderKeepsLastGoodOnCompileError(t *testing.T) {
	dir := copyExample(t)
	var reject atomic.Bool
	compile := func(s *Snapshot) (*Snapshot, error) {
		if reject.Load() {
			return nil, errors.New(`policy "x", Statement[0].Effect: invalid value`)
		}
		return s, nil
	}
	r := startReloader(t, NewFileStore(dir, WithDebounce(20*time.Millisecond)), compile, ReloaderConfig{})
	waitFor(t, "initial load", r.Ready)
	good := r.Snapshot()

	reject.Store(true)
	appendFile(t, filepath.Join(dir, "servers.yaml"), "  - {id: s-0009, project_id: p}\n")
	waitFor(t, "compile failure", func() bool { return r.Health().Failures > 0 })
	if r.Snapshot() != good {
		t.Error("snapshot replaced although it failed to compile")
	}
	if h := r.Health(); !strings.Contains(h.LastError, "Statement[0].Effect") {
		t.Errorf("LastError = %q, want the compile error", h.LastError)
	}
}

// outageStore is a store whose reachability the test switches.
type outageStore struct {
	Store
	down atomic.Bool
}

func (s *outageStore) Ping(ctx context.Context) error {
	if s.down.Load() {
		return errors.New("connection refused")
	}
	return s.Store.Ping(ctx)
}

func TestReloaderMaxStaleness(t *testing.T) {
	st := &outageStore{Store: NewFileStore(copyExample(t))}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{
		MaxStaleness: 500 * time.Millisecond, SyncInterval: 20 * time.Millisecond})
	waitFor(t, "initial load", r.Ready)
	if _, ok := r.Current(); !ok {
		t.Fatal("fresh snapshot unusable")
	}
	time.Sleep(700 * time.Millisecond)
	if _, ok := r.Current(); !ok {
		t.Error("snapshot unusable while the store is up and pinged")
	}

	st.down.Store(true)
	waitFor(t, "staleness", func() bool { _, ok := r.Current(); return !ok })
	if h := r.Health(); h.Usable || !h.Ready || h.AgeSeconds < 0.5 {
		t.Errorf("health during outage = %+v, want ready, unusable, age >= 0.5s", h)
	}
	if r.Snapshot() == nil {
		t.Error("snapshot dropped during outage")
	}
}

func TestReloaderNotReadyBeforeLoad(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "u.yaml"), "users: [{id: u1}]\n")
	r := startReloader(t, NewFileStore(dir, WithDebounce(20*time.Millisecond)), snapshotOf, ReloaderConfig{})
	waitFor(t, "failure", func() bool { return r.Health().Failures > 0 })
	if v, ok := r.Current(); ok || v != nil {
		t.Errorf("Current = %v, %v before a good load, want nil, false", v, ok)
	}
	writeFile(t, filepath.Join(dir, "u.yaml"), "users: [{id: u1, name: n, domain_id: d}]\n")
	waitFor(t, "first good load", r.Ready)
}

// metricValue returns the value of the named counter or gauge, selecting
// the series whose result label is result when result is not empty.
func metricValue(t *testing.T, reg *prometheus.Registry, name, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if result != "" && (len(m.GetLabel()) == 0 || m.GetLabel()[0].GetValue() != result) {
				continue
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("metric %s{result=%q} not found", name, result)
	return 0
}

func TestReloaderRetainAndBeforeSwap(t *testing.T) {
	dir := copyExample(t)
	type swap struct {
		revision string
		first    bool
		ready    bool
	}
	var (
		r     *Reloader[int]
		swaps = make(chan swap, 4)
	)
	retain := func(s *Snapshot) *Snapshot {
		return &Snapshot{Data: &evaluator.Data{Users: s.Data.Users}, Revision: s.Revision, LoadedAt: s.LoadedAt}
	}
	conf := ReloaderConfig{
		Retain: retain,
		BeforeSwap: func(kept *Snapshot, first bool) {
			swaps <- swap{revision: kept.Revision, first: first, ready: r.Ready()}
		},
	}
	policies := func(s *Snapshot) (int, error) { return len(s.Data.Policies), nil }
	r, err := NewReloader(NewFileStore(dir, WithDebounce(20*time.Millisecond)), policies, conf)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = r.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	first := <-swaps
	if !first.first || first.ready {
		t.Errorf("first BeforeSwap: first=%v ready=%v, want first before ready", first.first, first.ready)
	}
	waitFor(t, "initial load", r.Ready)
	snap := r.Snapshot()
	if snap.Revision != first.revision || len(snap.Data.Users) == 0 || len(snap.Data.Policies) != 0 || len(snap.Data.Grants) != 0 {
		t.Errorf("Snapshot() = revision %q with %d users, %d policies, %d grants; want the retained users of revision %q",
			snap.Revision, len(snap.Data.Users), len(snap.Data.Policies), len(snap.Data.Grants), first.revision)
	}
	if n, _ := r.Current(); n == 0 {
		t.Error("compile saw no policies")
	}

	appendFile(t, filepath.Join(dir, "servers.yaml"), "  - {id: s-0009, project_id: p}\n")
	second := <-swaps
	if second.first || !second.ready || second.revision == first.revision {
		t.Errorf("reload BeforeSwap: %+v, want a new revision, not first, with the old snapshot in force", second)
	}
}
