package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// pgTable describes how one kind of object maps onto its table. The first
// len(key) columns are the key.
type pgTable struct {
	name    string
	columns []string
	key     []string
	values  func(o Object) []any
	scan    func(row pgx.Row) (Object, error)
}

func (t *pgTable) selectSQL() string {
	return "SELECT " + strings.Join(t.columns, ", ") + ", version FROM " + t.name
}

func (t *pgTable) keyWhere(first int) string {
	conds := make([]string, len(t.key))
	for i, k := range t.key {
		conds[i] = fmt.Sprintf("%s = $%d", k, first+i)
	}
	return strings.Join(conds, " AND ")
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var pgTables = map[Kind]*pgTable{
	KindPolicy: {
		name: "policies", columns: []string{"name", "description", "document"}, key: []string{"name"},
		values: func(o Object) []any { return []any{o.Policy.Name, o.Policy.Description, string(o.Policy.Document)} },
		scan: func(row pgx.Row) (Object, error) {
			var p evaluator.Policy
			var doc string
			o := Object{Policy: &p}
			err := row.Scan(&p.Name, &p.Description, &doc, &o.Version)
			p.Document = json.RawMessage(doc)
			p.Source = "postgres:policies/" + p.Name
			return o, err
		},
	},
	KindUser: {
		name: "users", columns: []string{"id", "name", "domain_id", "domain_name", "root"}, key: []string{"id"},
		values: func(o Object) []any {
			u := o.User
			return []any{u.ID, u.Name, u.DomainID, u.DomainName, u.Root}
		},
		scan: func(row pgx.Row) (Object, error) {
			var u evaluator.User
			o := Object{User: &u}
			return o, row.Scan(&u.ID, &u.Name, &u.DomainID, &u.DomainName, &u.Root, &o.Version)
		},
	},
	KindGroup: {
		name: "user_groups", columns: []string{"id", "name", "domain_id"}, key: []string{"id"},
		values: func(o Object) []any { return []any{o.Group.ID, o.Group.Name, o.Group.DomainID} },
		scan: func(row pgx.Row) (Object, error) {
			var g evaluator.Group
			o := Object{Group: &g}
			return o, row.Scan(&g.ID, &g.Name, &g.DomainID, &o.Version)
		},
	},
	KindMembership: {
		name: "memberships", columns: []string{"group_id", "user_id"}, key: []string{"group_id", "user_id"},
		values: func(o Object) []any { return []any{o.Membership.GroupID, o.Membership.UserID} },
		scan: func(row pgx.Row) (Object, error) {
			var m evaluator.Membership
			o := Object{Membership: &m}
			return o, row.Scan(&m.GroupID, &m.UserID, &o.Version)
		},
	},
	KindGrant: {
		name: "grants", columns: []string{"key", "policy", "group_id", "user_id", "scope", "scope_id"}, key: []string{"key"},
		values: func(o Object) []any {
			g := o.Grant
			return []any{GrantKey(*g), g.Policy, nullIfEmpty(g.GroupID), nullIfEmpty(g.UserID), ScopeName(g.Scope), g.ScopeID}
		},
		scan: func(row pgx.Row) (Object, error) {
			var g evaluator.Grant
			var key, scope string
			var groupID, userID *string
			o := Object{Grant: &g}
			if err := row.Scan(&key, &g.Policy, &groupID, &userID, &scope, &g.ScopeID, &o.Version); err != nil {
				return o, err
			}
			g.GroupID, g.UserID = deref(groupID), deref(userID)
			g.Scope = scopeNames[scope]
			g.Source = "postgres:grants/" + key
			return o, nil
		},
	},
	KindServer: {
		name: "servers", columns: []string{"id", "project_id", "enterprise_project_id", "tags"}, key: []string{"id"},
		values: func(o Object) []any {
			s := o.Server
			return []any{s.ID, s.ProjectID, s.EnterpriseProjectID, tagsJSON(s.Tags)}
		},
		scan: func(row pgx.Row) (Object, error) {
			var s evaluator.Server
			var tags []byte
			o := Object{Server: &s}
			if err := row.Scan(&s.ID, &s.ProjectID, &s.EnterpriseProjectID, &tags, &o.Version); err != nil {
				return o, err
			}
			if err := json.Unmarshal(tags, &s.Tags); err != nil {
				return o, fmt.Errorf("server %s: invalid tags: %w", s.ID, err)
			}
			if len(s.Tags) == 0 {
				s.Tags = nil
			}
			return o, nil
		},
	},
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func pgList(ctx context.Context, q pgx.Tx, k Kind) ([]Object, error) {
	t := pgTables[k]
	rows, err := q.Query(ctx, t.selectSQL()+" ORDER BY "+strings.Join(t.key, ", "))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", t.name, err)
	}
	defer rows.Close()
	var objs []Object
	for rows.Next() {
		o, err := t.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("failed to read %s: %w", t.name, err)
		}
		objs = append(objs, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", t.name, err)
	}
	return objs, nil
}

// keyArgs splits a [Object.Key] into the values of the table's key columns.
func keyArgs(k Kind, key string) ([]any, error) {
	if k != KindMembership {
		return []any{key}, nil
	}
	g, u, ok := strings.Cut(key, "/")
	if !ok {
		return nil, fmt.Errorf("invalid membership key %q: want <group id>/<user id>: %w", key, ErrNotFound)
	}
	group, err1 := url.PathUnescape(g)
	user, err2 := url.PathUnescape(u)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("invalid membership key %q: %w", key, err)
	}
	return []any{group, user}, nil
}

// Put writes obj after validating it; see [Writer].
func (s *PostgresStore) Put(ctx context.Context, obj Object, ifVersion int64) (int64, error) {
	if err := validateObject(s.opts.validate, &obj); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	t := pgTables[obj.Kind()]
	vals := t.values(obj)
	keyVals := vals[:len(t.key)]

	var sql string
	args := vals
	placeholders := make([]string, len(t.columns))
	sets := make([]string, 0, len(t.columns))
	for i, c := range t.columns {
		placeholders[i] = fmt.Sprintf("$%d", i+1)
		sets = append(sets, fmt.Sprintf("%s = $%d", c, i+1))
	}
	insert := "INSERT INTO " + t.name + " (" + strings.Join(t.columns, ", ") + ") VALUES (" + strings.Join(placeholders, ", ") + ")"
	switch {
	case ifVersion == 0:
		sql = insert + " ON CONFLICT DO NOTHING RETURNING version"
	case ifVersion == AnyVersion:
		sql = insert + " ON CONFLICT (" + strings.Join(t.key, ", ") + ") DO UPDATE SET " +
			strings.Join(sets, ", ") + ", version = " + t.name + ".version + 1 RETURNING version"
	case ifVersion > 0:
		sql = "UPDATE " + t.name + " SET " + strings.Join(sets, ", ") + ", version = version + 1 WHERE " +
			t.keyWhere(len(vals)+1) + fmt.Sprintf(" AND version = $%d RETURNING version", len(vals)+len(t.key)+1)
		args = append(append(append([]any{}, vals...), keyVals...), ifVersion)
	default:
		return 0, fmt.Errorf("invalid expected version %d", ifVersion)
	}

	var version int64
	err := s.pool.QueryRow(ctx, sql, args...).Scan(&version)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, s.conflict(ctx, obj.Kind(), obj.Key(), ifVersion)
	}
	if err != nil {
		return 0, pgWriteError(obj, err)
	}
	return version, nil
}

// conflict explains why a conditional write matched no row.
func (s *PostgresStore) conflict(ctx context.Context, k Kind, key string, ifVersion int64) error {
	cur, err := s.Get(ctx, k, key)
	switch {
	case errors.Is(err, ErrNotFound):
		if ifVersion == 0 {
			return fmt.Errorf("%s %q: %w", k, key, ErrVersionConflict)
		}
		return err
	case err != nil:
		return err
	case ifVersion == 0:
		return fmt.Errorf("%s %q already exists at version %d: %w", k, key, cur.Version, ErrVersionConflict)
	default:
		return fmt.Errorf("%s %q is at version %d, not %d: %w", k, key, cur.Version, ifVersion, ErrVersionConflict)
	}
}

// pgWriteError maps constraint violations to store errors.
func pgWriteError(obj Object, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
		return fmt.Errorf("%w: %s %q refers to a user or group that does not exist: %s", ErrInvalid, obj.Kind(), obj.Key(), pgErr.Detail)
	}
	return fmt.Errorf("failed to write %s %q: %w", obj.Kind(), obj.Key(), err)
}

// Get returns one object; see [Writer].
func (s *PostgresStore) Get(ctx context.Context, k Kind, key string) (Object, error) {
	t, ok := pgTables[k]
	if !ok {
		return Object{}, fmt.Errorf("invalid kind %q", k)
	}
	args, err := keyArgs(k, key)
	if err != nil {
		return Object{}, err
	}
	o, err := t.scan(s.pool.QueryRow(ctx, t.selectSQL()+" WHERE "+t.keyWhere(1), args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return Object{}, fmt.Errorf("%s %q: %w", k, key, ErrNotFound)
	}
	return o, err
}

// List returns every object of kind k in key order; see [Writer].
func (s *PostgresStore) List(ctx context.Context, k Kind) ([]Object, error) {
	if _, ok := pgTables[k]; !ok {
		return nil, fmt.Errorf("invalid kind %q", k)
	}
	var objs []Object
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		objs, err = pgList(ctx, tx, k)
		return err
	})
	return objs, err
}

// Delete removes one object; see [Writer].
func (s *PostgresStore) Delete(ctx context.Context, k Kind, key string, ifVersion int64) error {
	t, ok := pgTables[k]
	if !ok {
		return fmt.Errorf("invalid kind %q", k)
	}
	if ifVersion == 0 || ifVersion < AnyVersion {
		return fmt.Errorf("invalid expected version %d for a delete: pass the current version or AnyVersion", ifVersion)
	}
	args, err := keyArgs(k, key)
	if err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if k == KindPolicy {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM grants WHERE policy = $1", key).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("policy %q is named by %d grants: %w", key, n, ErrInUse)
			}
		}
		sql := "DELETE FROM " + t.name + " WHERE " + t.keyWhere(1)
		if ifVersion != AnyVersion {
			sql += fmt.Sprintf(" AND version = $%d", len(args)+1)
			args = append(args, ifVersion)
		}
		tag, err := tx.Exec(ctx, sql, args...)
		if err != nil {
			return fmt.Errorf("failed to delete %s %q: %w", k, key, err)
		}
		if tag.RowsAffected() == 0 {
			return s.conflict(ctx, k, key, ifVersion)
		}
		return nil
	})
}

// Replace makes the database hold exactly data in one transaction; see
// [Writer].
func (s *PostgresStore) Replace(ctx context.Context, data *evaluator.Data) error {
	if err := ValidateData(s.opts.validate, data); err != nil {
		return err
	}
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "TRUNCATE policies, users, user_groups, memberships, grants, servers"); err != nil {
			return fmt.Errorf("failed to clear the store: %w", err)
		}
		objs := objectsOf(data, nil)
		for _, k := range Kinds {
			t := pgTables[k]
			var rows [][]any
			for _, o := range objs {
				if o.Kind() == k {
					rows = append(rows, t.values(o))
				}
			}
			if len(rows) == 0 {
				continue
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("failed to write %s: %w", t.name, err)
			}
		}
		return nil
	})
}
