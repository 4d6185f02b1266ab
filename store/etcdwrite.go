package store

import (
	"context"
	"fmt"
	"sort"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Put writes obj after validating it; see [Writer]. The version is the
// key's etcd modification revision.
func (s *EtcdStore) Put(ctx context.Context, obj Object, ifVersion int64) (int64, error) {
	if err := validateObject(s.opts.validate, &obj); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if ifVersion < AnyVersion {
		return 0, fmt.Errorf("invalid expected version %d", ifVersion)
	}
	value, err := encodeObject(obj)
	if err != nil {
		return 0, err
	}
	key := s.key(obj)
	var conds []clientv3.Cmp
	if ifVersion != AnyVersion {
		conds = append(conds, clientv3.Compare(clientv3.ModRevision(key), "=", ifVersion))
	}
	// Memberships and grants need their user or group to exist.
	var refs []string
	switch {
	case obj.Membership != nil:
		refs = []string{s.keyOf(KindGroup, obj.Membership.GroupID), s.keyOf(KindUser, obj.Membership.UserID)}
	case obj.Grant != nil && obj.Grant.GroupID != "":
		refs = []string{s.keyOf(KindGroup, obj.Grant.GroupID)}
	case obj.Grant != nil:
		refs = []string{s.keyOf(KindUser, obj.Grant.UserID)}
	}
	for _, ref := range refs {
		conds = append(conds, clientv3.Compare(clientv3.CreateRevision(ref), ">", 0))
	}

	resp, err := s.cli.Txn(ctx).If(conds...).Then(clientv3.OpPut(key, string(value))).Commit()
	if err != nil {
		return 0, fmt.Errorf("failed to write %s %q: %w", obj.Kind(), obj.Key(), err)
	}
	if !resp.Succeeded {
		return 0, s.explainFailedTxn(ctx, obj.Kind(), obj.Key(), ifVersion, refs)
	}
	return resp.Header.Revision, nil
}

// explainFailedTxn finds which condition of a write failed.
func (s *EtcdStore) explainFailedTxn(ctx context.Context, k Kind, key string, ifVersion int64, refs []string) error {
	for _, ref := range refs {
		resp, err := s.cli.Get(ctx, ref, clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count == 0 {
			return fmt.Errorf("%w: %s %q refers to %s, which does not exist", ErrInvalid, k, key, ref)
		}
	}
	cur, err := s.Get(ctx, k, key)
	switch {
	case err != nil && ifVersion == 0:
		return fmt.Errorf("%s %q: %w", k, key, ErrVersionConflict)
	case err != nil:
		return err
	case ifVersion == 0:
		return fmt.Errorf("%s %q already exists at version %d: %w", k, key, cur.Version, ErrVersionConflict)
	default:
		return fmt.Errorf("%s %q is at version %d, not %d: %w", k, key, cur.Version, ifVersion, ErrVersionConflict)
	}
}

// Get returns one object; see [Writer].
func (s *EtcdStore) Get(ctx context.Context, k Kind, key string) (Object, error) {
	if _, ok := etcdDirs[k]; !ok {
		return Object{}, fmt.Errorf("invalid kind %q", k)
	}
	full := s.keyOf(k, key)
	resp, err := s.cli.Get(ctx, full)
	if err != nil {
		return Object{}, fmt.Errorf("failed to read %s: %w", full, err)
	}
	if len(resp.Kvs) == 0 {
		return Object{}, fmt.Errorf("%s %q: %w", k, key, ErrNotFound)
	}
	obj, err := decodeObject(k, resp.Kvs[0].Value)
	if err != nil {
		return Object{}, &LoadError{File: full, Err: err}
	}
	obj.Version = resp.Kvs[0].ModRevision
	return obj, nil
}

// List returns every object of kind k in key order; see [Writer].
func (s *EtcdStore) List(ctx context.Context, k Kind) ([]Object, error) {
	dir, ok := etcdDirs[k]
	if !ok {
		return nil, fmt.Errorf("invalid kind %q", k)
	}
	resp, err := s.cli.Get(ctx, s.prefix+dir, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", s.prefix+dir, err)
	}
	objs := make([]Object, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		obj, err := decodeObject(k, kv.Value)
		if err != nil {
			return nil, &LoadError{File: string(kv.Key), Err: err}
		}
		obj.Version = kv.ModRevision
		objs = append(objs, obj)
	}
	sort.Slice(objs, func(i, j int) bool { return objs[i].Key() < objs[j].Key() })
	return objs, nil
}

// Delete removes one object; see [Writer]. Deleting a user or group
// deletes its memberships and grants in the same transaction.
//
// NOTE: the dependents, and the grants that name a policy, are read before
// the transaction. A grant written between that read and the delete
// survives it, and the next load reports it as naming a missing user or
// group.
func (s *EtcdStore) Delete(ctx context.Context, k Kind, key string, ifVersion int64) error {
	if _, ok := etcdDirs[k]; !ok {
		return fmt.Errorf("invalid kind %q", k)
	}
	if ifVersion == 0 || ifVersion < AnyVersion {
		return fmt.Errorf("invalid expected version %d for a delete: pass the current version or AnyVersion", ifVersion)
	}
	full := s.keyOf(k, key)
	dependents, err := s.dependents(ctx, k, key)
	if err != nil {
		return err
	}
	if k == KindPolicy && len(dependents) > 0 {
		return fmt.Errorf("policy %q is named by %d grants: %w", key, len(dependents), ErrInUse)
	}
	if len(dependents)+1 > etcdMaxTxnOps {
		return fmt.Errorf("%s %q has %d memberships and grants, more than one etcd transaction can delete; delete them first", k, key, len(dependents))
	}

	cond := clientv3.Compare(clientv3.CreateRevision(full), ">", 0)
	if ifVersion != AnyVersion {
		cond = clientv3.Compare(clientv3.ModRevision(full), "=", ifVersion)
	}
	ops := []clientv3.Op{clientv3.OpDelete(full)}
	for _, d := range dependents {
		ops = append(ops, clientv3.OpDelete(d))
	}
	resp, err := s.cli.Txn(ctx).If(cond).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("failed to delete %s %q: %w", k, key, err)
	}
	if !resp.Succeeded {
		return s.explainFailedTxn(ctx, k, key, ifVersion, nil)
	}
	return nil
}

// dependents returns the keys of the memberships and grants that name the
// user, group or policy; other kinds have none.
func (s *EtcdStore) dependents(ctx context.Context, k Kind, key string) ([]string, error) {
	if k != KindUser && k != KindGroup && k != KindPolicy {
		return nil, nil
	}
	var keys []string
	for _, dk := range []Kind{KindMembership, KindGrant} {
		if k == KindPolicy && dk == KindMembership {
			continue
		}
		objs, err := s.List(ctx, dk)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if names(o, k, key) {
				keys = append(keys, s.key(o))
			}
		}
	}
	return keys, nil
}

func names(o Object, k Kind, key string) bool {
	switch {
	case o.Membership != nil:
		return (k == KindUser && o.Membership.UserID == key) || (k == KindGroup && o.Membership.GroupID == key)
	case o.Grant != nil:
		g := o.Grant
		return (k == KindUser && g.UserID == key) || (k == KindGroup && g.GroupID == key) || (k == KindPolicy && g.Policy == key)
	}
	return false
}

// Replace makes the prefix hold exactly data. etcd limits the operations
// of one transaction, so the writes are spread over several. A marker key
// set in the first and deleted in the last makes watchers hold back
// snapshots until the import is complete. If Replace fails midway, the
// marker stays and watchers keep their last snapshot until Replace runs
// again to completion.
func (s *EtcdStore) Replace(ctx context.Context, data *evaluator.Data) error {
	if err := ValidateData(s.opts.validate, data); err != nil {
		return err
	}
	ops := []clientv3.Op{clientv3.OpPut(s.prefix+etcdImportMarker, "1")}
	for _, k := range Kinds {
		ops = append(ops, clientv3.OpDelete(s.prefix+etcdDirs[k], clientv3.WithPrefix()))
	}
	if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
		return fmt.Errorf("failed to start the import: %w", err)
	}

	ops = ops[:0]
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		_, err := s.cli.Txn(ctx).Then(ops...).Commit()
		ops = ops[:0]
		return err
	}
	for _, o := range objectsOf(data, nil) {
		value, err := encodeObject(o)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(s.key(o), string(value)))
		if len(ops) == etcdMaxTxnOps {
			if err := flush(); err != nil {
				return fmt.Errorf("failed to write the import: %w", err)
			}
		}
	}
	ops = append(ops, clientv3.OpDelete(s.prefix+etcdImportMarker))
	if err := flush(); err != nil {
		return fmt.Errorf("failed to finish the import: %w", err)
	}
	return nil
}
