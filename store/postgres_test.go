package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store/storetest"
)

func newPostgresStore(t *testing.T, dsn string) *PostgresStore {
	t.Helper()
	ctx := context.Background()
	if _, err := Migrate(ctx, dsn); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	st, err := NewPostgresStore(ctx, dsn, WithDebounce(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestPostgresLifecycle(t *testing.T) {
	testWriterLifecycle(t, newPostgresStore(t, storetest.PostgresDSN(t)))
}

func TestPostgresMigrateIdempotent(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	ctx := context.Background()
	st, err := NewPostgresStore(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Load(ctx); err == nil || !strings.Contains(err.Error(), "store migrate") {
		t.Errorf("Load before migrate: err = %v, want a hint to run store migrate", err)
	}
	applied, err := Migrate(ctx, dsn)
	if err != nil || len(applied) != SchemaVersion() {
		t.Fatalf("first Migrate = %v, %v; want every migration", applied, err)
	}
	applied, err = Migrate(ctx, dsn)
	if err != nil || len(applied) != 0 {
		t.Errorf("second Migrate = %v, %v; want none", applied, err)
	}
	snap, err := st.Load(ctx)
	if err != nil || len(snap.Data.Users) != 0 {
		t.Errorf("Load of an empty store = %v, %v", snap, err)
	}
}

// TestPostgresBrokenRowKeepsSnapshot writes a policy the writer would
// reject straight into the table: the watch reports it and the last good
// snapshot stays, then the fix is picked up.
func TestPostgresBrokenRowKeepsSnapshot(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	st := newPostgresStore(t, dsn)
	ctx := context.Background()
	if err := st.Replace(ctx, loadExample(t)); err != nil {
		t.Fatal(err)
	}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{})
	waitFor(t, "initial load", r.Ready)
	good := r.Snapshot()

	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `INSERT INTO policies (name, document) VALUES ('raw', '{"Version":"1.1"}')`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "failure", func() bool { return r.Health().Failures > 0 })
	if h := r.Health(); !strings.Contains(h.LastError, `policy "raw", Statement: invalid policy: missing`) {
		t.Errorf("LastError = %q, want the missing Statement", h.LastError)
	}
	if r.Snapshot() != good {
		t.Error("snapshot replaced by invalid content")
	}
	if _, err := conn.Exec(ctx, `UPDATE policies SET document = '{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:get*"]}]}' WHERE name = 'raw'`); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "fix", func() bool { return len(r.Snapshot().Data.Policies) == 2 })
}

// TestPostgresOutage stops the server under a running reloader: the last
// good snapshot keeps serving, and a change made after the restart arrives.
func TestPostgresOutage(t *testing.T) {
	cluster := storetest.StartPostgres(t)
	dsn := cluster.NewDatabase(t)
	st := newPostgresStore(t, dsn)
	ctx := context.Background()
	if err := st.Replace(ctx, loadExample(t)); err != nil {
		t.Fatal(err)
	}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{SyncInterval: 50 * time.Millisecond})
	waitFor(t, "initial load", r.Ready)
	good := r.Snapshot()

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "outage noticed", func() bool { return !r.Health().InSync })
	if _, ok := r.Current(); !ok || r.Snapshot() != good {
		t.Error("last good snapshot not served during the outage")
	}

	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	grant := evaluator.Grant{Policy: "ECS ReadOnlyAccess", UserID: "u-0005", Scope: evaluator.ScopeDomain}
	waitFor(t, "write after restart", func() bool {
		_, err := st.Put(ctx, Object{Grant: &grant}, AnyVersion)
		return err == nil
	})
	waitFor(t, "change after restart", func() bool { return hasGrant(r.Snapshot().Data, grant) })
	waitFor(t, "in sync", func() bool { return r.Health().InSync })
}
