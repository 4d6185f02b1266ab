package store

import (
	"context"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// AnyVersion, passed as the expected version of a write, skips the
// optimistic-concurrency check.
const AnyVersion int64 = -1

// Writer changes a writable store (PostgreSQL, etcd) one object at a time.
//
// Every write names the version it expects: 0 to create an object that
// must not exist yet, the current [Object.Version] to replace or delete
// it, or [AnyVersion] to skip the check. A mismatch returns an error
// wrapping [ErrVersionConflict]. Policy documents are validated before
// they are written; a rejected document returns an error wrapping
// [ErrInvalid] that lists every problem. Watchers see each write as one
// change.
type Writer interface {
	// Put creates or replaces obj and returns its new version.
	Put(ctx context.Context, obj Object, ifVersion int64) (int64, error)
	// Get returns the object of kind with key, or an error wrapping
	// [ErrNotFound].
	Get(ctx context.Context, kind Kind, key string) (Object, error)
	// List returns every object of kind in key order.
	List(ctx context.Context, kind Kind) ([]Object, error)
	// Delete removes the object of kind with key. Deleting a user or a
	// group also deletes its memberships and grants. Deleting a policy
	// that a grant names fails with [ErrInUse].
	Delete(ctx context.Context, kind Kind, key string, ifVersion int64) error
	// Replace makes the store hold exactly data, atomically for watchers:
	// they see either the old content or all of data.
	Replace(ctx context.Context, data *evaluator.Data) error
}
