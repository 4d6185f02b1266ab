package store

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store/storetest"
)

func newEtcdStore(t *testing.T, endpoints []string) *EtcdStore {
	t.Helper()
	st, err := NewEtcdStore(context.Background(), EtcdConfig{Endpoints: endpoints, Prefix: "/test/"},
		WithDebounce(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestEtcdLifecycle(t *testing.T) {
	srv := storetest.StartEtcd(t)
	testWriterLifecycle(t, newEtcdStore(t, srv.Endpoints()))
}

// TestEtcdBrokenValueKeepsSnapshot writes a value the writer would reject
// straight into etcd.
func TestEtcdBrokenValueKeepsSnapshot(t *testing.T) {
	srv := storetest.StartEtcd(t)
	st := newEtcdStore(t, srv.Endpoints())
	ctx := context.Background()
	if err := st.Replace(ctx, loadExample(t)); err != nil {
		t.Fatal(err)
	}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{})
	waitFor(t, "initial load", r.Ready)
	good := r.Snapshot()

	if _, err := st.cli.Put(ctx, "/test/users/u-bad", `{"id":"u-bad","nme":"typo"}`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failure", func() bool { return r.Health().Failures > 0 })
	if h := r.Health(); !strings.Contains(h.LastError, "/test/users/u-bad") || !strings.Contains(h.LastError, "unknown field") {
		t.Errorf("LastError = %q, want the key and the unknown field", h.LastError)
	}
	if r.Snapshot() != good {
		t.Error("snapshot replaced by invalid content")
	}
	if _, err := st.cli.Delete(ctx, "/test/users/u-bad"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "in sync after the fix", func() bool { return r.Health().InSync })
}

func TestEtcdCompactionReloads(t *testing.T) {
	srv := storetest.StartEtcd(t)
	st := newEtcdStore(t, srv.Endpoints())
	ctx := context.Background()
	if err := st.Replace(ctx, loadExample(t)); err != nil {
		t.Fatal(err)
	}

	// A watch started from a compacted revision must fall back to a full read.
	resp, err := st.cli.Put(ctx, "/other/key", "x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.cli.Compact(ctx, resp.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatal(err)
	}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{})
	waitFor(t, "initial load", r.Ready)
	grant := evaluator.Grant{Policy: "ECS ReadOnlyAccess", UserID: "u-0005", Scope: evaluator.ScopeDomain}
	if _, err := st.Put(ctx, Object{Grant: &grant}, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "grant after compaction", func() bool { return hasGrant(r.Snapshot().Data, grant) })
}

func TestEtcdOutage(t *testing.T) {
	srv := storetest.StartEtcd(t)
	st := newEtcdStore(t, srv.Endpoints())
	ctx := context.Background()
	if err := st.Replace(ctx, loadExample(t)); err != nil {
		t.Fatal(err)
	}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{SyncInterval: 50 * time.Millisecond})
	waitFor(t, "initial load", r.Ready)
	good := r.Snapshot()

	srv.Stop()
	waitFor(t, "outage noticed", func() bool { return !r.Health().InSync })
	if _, ok := r.Current(); !ok || r.Snapshot() != good {
		t.Error("last good snapshot not served during the outage")
	}

	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	grant := evaluator.Grant{Policy: "ECS ReadOnlyAccess", UserID: "u-0005", Scope: evaluator.ScopeDomain}
	waitFor(t, "write after restart", func() bool {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := st.Put(wctx, Object{Grant: &grant}, AnyVersion)
		return err == nil
	})
	waitFor(t, "change after restart", func() bool { return hasGrant(r.Snapshot().Data, grant) })
	waitFor(t, "in sync", func() bool { return r.Health().InSync })
}

// TestEtcdWrongKeyRejected writes values under keys that do not match
// their content straight into etcd.
func TestEtcdWrongKeyRejected(t *testing.T) {
	srv := storetest.StartEtcd(t)
	st := newEtcdStore(t, srv.Endpoints())
	ctx := context.Background()
	cases := []struct{ key, value string }{
		{"/test/users/u-2", `{"id":"u-1","name":"n","domain_id":"d"}`},
		{"/test/grants/user:u-1/domain/q", `{"policy":"p","user":"u-1","scope":"domain"}`},
		{"/test/grants/user:u-1/domain/p/x", `{"policy":"p","user":"u-1","scope":"domain"}`},
		{"/test/memberships/g/u-2", `{"group":"g","user":"u-1"}`},
	}
	for _, c := range cases {
		if _, err := st.cli.Put(ctx, c.key, c.value); err != nil {
			t.Fatal(err)
		}
		_, err := st.Load(ctx)
		if err == nil || !strings.Contains(err.Error(), "wrong key") || !strings.Contains(err.Error(), c.key) {
			t.Errorf("Load with %s = %v, want a wrong-key error naming the key", c.key, err)
		}
		if _, err := st.cli.Delete(ctx, c.key); err != nil {
			t.Fatal(err)
		}
	}
}
