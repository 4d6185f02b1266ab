// Package store loads policies, principals, grants and the server registry
// from a policy store backend and hands out immutable snapshots.
package store

import (
	"context"
	"time"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Snapshot is one consistent, immutable view of a policy store.
type Snapshot struct {
	Data *evaluator.Data
	// Revision identifies the store state: a content hash for files, a
	// change id for PostgreSQL, the etcd revision for etcd.
	Revision string
	LoadedAt time.Time
}

// Store is a policy store backend.
type Store interface {
	// Load reads the whole store and returns a snapshot.
	Load(ctx context.Context) (*Snapshot, error)
	// Watch calls onChange with a new snapshot after every change, and
	// onError when a reload fails, until ctx is done. It reconnects on its
	// own after a store outage.
	Watch(ctx context.Context, onChange func(*Snapshot), onError func(error)) error
	// Close releases connections.
	Close() error
}
