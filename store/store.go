// Package store loads policies, principals, grants and the server registry
// from a policy store backend and hands out immutable snapshots.
//
// Three backends implement [Store]: a directory of YAML and JSON documents
// ([NewFileStore]), PostgreSQL ([NewPostgresStore]) and etcd
// ([NewEtcdStore]). The two database backends also implement [Writer].
// A [Reloader] turns the snapshots of any backend into a compiled value,
// swaps it in atomically and keeps the last good one when a reload fails.
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
	// Watch calls onChange with a full snapshot as soon as it has one, then
	// with a new snapshot after every change, and onError when a load or a
	// connection fails, until ctx is done. It reconnects on its own after a
	// store outage and then calls onChange with a fresh full snapshot, which
	// may have the same Revision as the previous one. Watch returns ctx.Err()
	// or an error it cannot recover from, such as an invalid configuration.
	Watch(ctx context.Context, onChange func(*Snapshot), onError func(error)) error
	// Ping checks that the store is reachable.
	Ping(ctx context.Context) error
	// Close releases connections.
	Close() error
}
