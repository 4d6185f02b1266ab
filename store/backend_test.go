package store

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// writableStore is a backend that accepts writes.
type writableStore interface {
	Store
	Writer
}

func loadExample(t *testing.T) *evaluator.Data {
	t.Helper()
	snap, err := NewFileStore(exampleDir).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return snap.Data
}

// ignoreSource compares store content regardless of where each object was
// read from.
var ignoreSource = cmp.Options{
	cmpopts.IgnoreFields(evaluator.Policy{}, "Source"),
	cmp.Transformer("compactJSON", func(doc json.RawMessage) string { return string(compactJSON(doc)) }),
	cmpopts.IgnoreFields(evaluator.Grant{}, "Source"),
	cmpopts.EquateEmpty(),
}

func hasGrant(d *evaluator.Data, g evaluator.Grant) bool {
	for _, x := range d.Grants {
		if GrantKey(x) == GrantKey(g) {
			return true
		}
	}
	return false
}

// testWriterLifecycle runs the common backend checks against st: initial
// load, a grant added, changed and revoked reaching the served snapshot,
// rejected writes leaving the snapshot alone, and the version checks.
func testWriterLifecycle(t *testing.T, st writableStore) {
	ctx := context.Background()
	example := loadExample(t)
	if err := st.Replace(ctx, example); err != nil {
		t.Fatalf("Replace: %v", err)
	}
	r := startReloader(t, st, snapshotOf, ReloaderConfig{SyncInterval: 50 * time.Millisecond})
	waitFor(t, "initial load", r.Ready)
	if diff := cmp.Diff(example, r.Snapshot().Data, ignoreSource); diff != "" {
		t.Fatalf("initial snapshot (-want +got):\n%s", diff)
	}

	// Added.
	grant := evaluator.Grant{Policy: "ECS ReadOnlyAccess", UserID: "u-0005",
		Scope: evaluator.ScopeProject, ScopeID: "0a1b2c3d4e5f60718293a4b5c6d7e8f9"}
	v, err := st.Put(ctx, Object{Grant: &grant}, 0)
	if err != nil {
		t.Fatalf("Put grant: %v", err)
	}
	waitFor(t, "grant added", func() bool { return hasGrant(r.Snapshot().Data, grant) })

	// Changed: the grant moves to domain scope, and the policy it names
	// changes its document.
	if err := st.Delete(ctx, KindGrant, GrantKey(grant), v); err != nil {
		t.Fatalf("Delete grant: %v", err)
	}
	moved := grant
	moved.Scope, moved.ScopeID = evaluator.ScopeDomain, ""
	if _, err := st.Put(ctx, Object{Grant: &moved}, 0); err != nil {
		t.Fatalf("Put moved grant: %v", err)
	}
	waitFor(t, "grant changed", func() bool {
		d := r.Snapshot().Data
		return hasGrant(d, moved) && !hasGrant(d, grant)
	})
	pol, err := st.Get(ctx, KindPolicy, "deny-server-delete")
	if err != nil {
		t.Fatalf("Get policy: %v", err)
	}
	newDoc := json.RawMessage(`{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["ecs:cloudServers:delete","ecs:cloudServers:deleteServers"]}]}`)
	pol.Policy.Document = newDoc
	if _, err := st.Put(ctx, pol, pol.Version); err != nil {
		t.Fatalf("Put policy: %v", err)
	}
	waitFor(t, "policy changed", func() bool {
		ps := r.Snapshot().Data.Policies
		return len(ps) == 1 && string(ps[0].Document) == string(newDoc)
	})

	// Revoked.
	if err := st.Delete(ctx, KindGrant, GrantKey(moved), AnyVersion); err != nil {
		t.Fatalf("Delete moved grant: %v", err)
	}
	waitFor(t, "grant revoked", func() bool { return !hasGrant(r.Snapshot().Data, moved) })

	// Rejected writes leave the snapshot in force.
	good := r.Snapshot()
	bad := evaluator.Policy{Name: "broken", Document: json.RawMessage(`{"Version":"1.1"}`)}
	if _, err := st.Put(ctx, Object{Policy: &bad}, 0); !errors.Is(err, ErrInvalid) {
		t.Errorf("Put invalid policy: err = %v, want ErrInvalid", err)
	}
	if _, err := st.Put(ctx, pol, pol.Version); !errors.Is(err, ErrVersionConflict) {
		t.Errorf("Put with a stale version: err = %v, want ErrVersionConflict", err)
	}
	if _, err := st.Put(ctx, Object{User: &example.Users[0]}, 0); !errors.Is(err, ErrVersionConflict) {
		t.Errorf("create an existing user: err = %v, want ErrVersionConflict", err)
	}
	if _, err := st.Get(ctx, KindUser, "u-9999"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get a missing user: err = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, KindUser, "u-9999", AnyVersion); !errors.Is(err, ErrNotFound) {
		t.Errorf("Delete a missing user: err = %v, want ErrNotFound", err)
	}
	if err := st.Delete(ctx, KindUser, "u-0005", 0); err == nil || !strings.Contains(err.Error(), "invalid expected version 0") {
		t.Errorf("Delete with version 0: err = %v, want an invalid version error", err)
	}
	if err := st.Delete(ctx, KindPolicy, "deny-server-delete", AnyVersion); !errors.Is(err, ErrInUse) {
		t.Errorf("Delete a policy in use: err = %v, want ErrInUse", err)
	}
	time.Sleep(200 * time.Millisecond)
	if r.Snapshot().Revision != good.Revision {
		t.Errorf("snapshot changed after rejected writes: %s, was %s", r.Snapshot().Revision, good.Revision)
	}

	// Deleting a group removes its memberships and grants.
	if err := st.Delete(ctx, KindGroup, "g-ep-dev", AnyVersion); err != nil {
		t.Fatalf("Delete group: %v", err)
	}
	waitFor(t, "group deleted", func() bool { return len(r.Snapshot().Data.Groups) == 3 })
	d := r.Snapshot().Data
	if len(d.Memberships) != 3 || len(d.Grants) != 4 {
		t.Errorf("after deleting g-ep-dev: %d memberships, %d grants, want 3 and 4", len(d.Memberships), len(d.Grants))
	}
	list, err := st.List(ctx, KindGrant)
	if err != nil || len(list) != 4 || list[0].Version < 1 {
		t.Errorf("List grants = %d objects (err %v), want 4 with versions", len(list), err)
	}
}
