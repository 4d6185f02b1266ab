package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// notifyChannel is the channel the schema's triggers notify on every
// change; the payload is the new store revision.
const notifyChannel = "ecsauthz_store"

// PostgresStore is the PostgreSQL backend. It reads the whole store in one
// repeatable-read transaction and reloads after every notification on
// [notifyChannel].
type PostgresStore struct {
	dsn  string
	pool *pgxpool.Pool
	opts options
}

var (
	_ Store  = (*PostgresStore)(nil)
	_ Writer = (*PostgresStore)(nil)
)

// NewPostgresStore returns a store for the database at dsn. It does not
// connect yet, so it succeeds while the database is down; the schema must
// have been created with [Migrate].
func NewPostgresStore(ctx context.Context, dsn string, opts ...Option) (*PostgresStore, error) {
	conf, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("invalid PostgreSQL DSN: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, conf)
	if err != nil {
		return nil, fmt.Errorf("failed to create PostgreSQL pool: %w", err)
	}
	return &PostgresStore{dsn: dsn, pool: pool, opts: applyOptions(opts)}, nil
}

// Close closes the connection pool.
func (s *PostgresStore) Close() error {
	s.pool.Close()
	return nil
}

// Ping checks that the database responds.
func (s *PostgresStore) Ping(ctx context.Context) error { return s.pool.Ping(ctx) }

// Load reads the whole store in one read-only repeatable-read transaction,
// so the snapshot is one committed state, and validates it.
func (s *PostgresStore) Load(ctx context.Context) (*Snapshot, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to connect to PostgreSQL: %w", err)
	}
	defer conn.Release()
	return s.loadWith(ctx, conn.Conn())
}

func (s *PostgresStore) loadWith(ctx context.Context, conn *pgx.Conn) (*Snapshot, error) {
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, fmt.Errorf("failed to begin PostgreSQL transaction: %w", err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // Read-only; nothing to undo.

	if err := checkSchemaVersion(ctx, tx); err != nil {
		return nil, err
	}
	var revision int64
	if err := tx.QueryRow(ctx, "SELECT revision FROM store_revision").Scan(&revision); err != nil {
		return nil, fmt.Errorf("failed to read store revision: %w", err)
	}
	data := &evaluator.Data{}
	for _, k := range Kinds {
		objs, err := pgList(ctx, tx, k)
		if err != nil {
			return nil, err
		}
		addObjects(data, objs)
	}
	if err := ValidateData(s.opts.validate, data); err != nil {
		return nil, err
	}
	SortData(data)
	return &Snapshot{Data: data, Revision: strconv.FormatInt(revision, 10), LoadedAt: time.Now()}, nil
}

func checkSchemaVersion(ctx context.Context, q pgx.Tx) error {
	var v int
	err := q.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		v, err = 0, nil
	}
	if err != nil {
		return fmt.Errorf("failed to read schema version: %w", err)
	}
	want := SchemaVersion()
	switch {
	case v < want:
		return fmt.Errorf("database schema is at version %d, this build needs %d: run `ecsauthz store migrate --dsn ...`", v, want)
	case v > want:
		return fmt.Errorf("database schema is at version %d, newer than the %d this build knows: upgrade ecsauthz", v, want)
	}
	return nil
}

// addObjects appends objs to the lists of d.
func addObjects(d *evaluator.Data, objs []Object) {
	for _, o := range objs {
		switch {
		case o.Policy != nil:
			d.Policies = append(d.Policies, *o.Policy)
		case o.User != nil:
			d.Users = append(d.Users, *o.User)
		case o.Group != nil:
			d.Groups = append(d.Groups, *o.Group)
		case o.Membership != nil:
			d.Memberships = append(d.Memberships, *o.Membership)
		case o.Grant != nil:
			d.Grants = append(d.Grants, *o.Grant)
		case o.Server != nil:
			d.Servers = append(d.Servers, *o.Server)
		}
	}
}

// Watch listens on [notifyChannel] on a dedicated connection, loads the
// store, and reloads after every notification once no further one arrived
// for the debounce interval. After a connection failure it reconnects with
// exponential backoff and loads the store again.
func (s *PostgresStore) Watch(ctx context.Context, onChange func(*Snapshot), onError func(error)) error {
	backoff := minBackoff
	for {
		delivered, err := s.watchConn(ctx, onChange, onError)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		onError(err)
		if delivered {
			backoff = minBackoff
		}
		s.opts.logger.Warn("PostgreSQL watch failed; reconnecting", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// watchConn runs one watch connection until it fails, and reports whether
// it delivered a snapshot.
func (s *PostgresStore) watchConn(ctx context.Context, onChange func(*Snapshot), onError func(error)) (bool, error) {
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		return false, fmt.Errorf("failed to connect to PostgreSQL: %w", err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return false, fmt.Errorf("failed to listen on %s: %w", notifyChannel, err)
	}

	delivered := false
	for {
		// LISTEN came first, so no change between it and this load is lost.
		snap, err := s.loadWith(ctx, conn)
		switch {
		case err == nil:
			onChange(snap)
			delivered = true
		case errors.Is(err, ErrInvalid):
			onError(err) // Bad content: keep listening for the fix.
		default:
			return delivered, err
		}
		if err := s.waitForChange(ctx, conn); err != nil {
			return delivered, err
		}
	}
}

// waitForChange blocks until a notification arrives, then drains further
// notifications until none arrived for the debounce interval.
func (s *PostgresStore) waitForChange(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.WaitForNotification(ctx); err != nil {
		return fmt.Errorf("failed to wait for PostgreSQL notification: %w", err)
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, s.opts.debounce)
		_, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err):
			return nil
		default:
			return fmt.Errorf("failed to wait for PostgreSQL notification: %w", err)
		}
	}
}

// tagsJSON encodes server tags for the jsonb column.
func tagsJSON(tags map[string]string) []byte {
	if tags == nil {
		return []byte("{}")
	}
	b, _ := json.Marshal(tags) // A map[string]string always encodes.
	return b
}
