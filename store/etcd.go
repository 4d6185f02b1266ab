package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// EtcdConfig configures [NewEtcdStore].
type EtcdConfig struct {
	// Endpoints are the etcd client URLs.
	Endpoints []string
	// Prefix is the key prefix of the store, ending in "/".
	Prefix string
	// DialTimeout bounds each connection attempt.
	DialTimeout time.Duration
}

// The key layout under the prefix. Each object is one key whose value is
// the object as JSON in the file schema's field names; see
// docs/policy-store.md.
var etcdDirs = map[Kind]string{
	KindPolicy:     "policies/",
	KindUser:       "users/",
	KindGroup:      "groups/",
	KindMembership: "memberships/",
	KindGrant:      "grants/",
	KindServer:     "servers/",
}

// etcdImportMarker is set while [EtcdStore.Replace] runs; watchers hold
// back snapshots while it exists.
const etcdImportMarker = "meta/import-in-progress"

// etcdMaxTxnOps stays below etcd's default limit of 128 operations per
// transaction (--max-txn-ops).
const etcdMaxTxnOps = 100

// EtcdStore is the etcd backend. It reads the whole prefix at one revision
// and then watches from that revision, applying events to its copy.
type EtcdStore struct {
	cli    *clientv3.Client
	prefix string
	opts   options
}

var (
	_ Store  = (*EtcdStore)(nil)
	_ Writer = (*EtcdStore)(nil)
)

// NewEtcdStore returns a store under conf.Prefix of the etcd cluster at
// conf.Endpoints. The client connects in the background, so it succeeds
// while etcd is down.
func NewEtcdStore(_ context.Context, conf EtcdConfig, opts ...Option) (*EtcdStore, error) {
	if conf.Prefix == "" {
		conf.Prefix = DefaultPrefix
	}
	if conf.DialTimeout == 0 {
		conf.DialTimeout = DefaultDialTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   conf.Endpoints,
		DialTimeout: conf.DialTimeout,
		Logger:      zap.NewNop(),
		// Reconnect within maxBackoff after an outage, as the PostgreSQL
		// watch does, instead of gRPC's default of up to 120 s.
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: minBackoff, Multiplier: 2, Jitter: 0.2, MaxDelay: maxBackoff},
			MinConnectTimeout: conf.DialTimeout,
		})},
	})
	if err != nil {
		return nil, fmt.Errorf("failed to create etcd client: %w", err)
	}
	return &EtcdStore{cli: cli, prefix: conf.Prefix, opts: applyOptions(opts)}, nil
}

// Close closes the client.
func (s *EtcdStore) Close() error { return s.cli.Close() }

// Ping reads one key with a linearizable read, which needs a cluster
// quorum.
func (s *EtcdStore) Ping(ctx context.Context) error {
	_, err := s.cli.Get(ctx, s.prefix+"meta/ping")
	return err
}

// etcdState is a decoded copy of the store's keys at one revision.
type etcdState struct {
	revision  int64
	objects   map[string]Object // by full key
	bad       map[string]error  // keys whose value failed to decode
	importing bool
	decoder   jsonValueDecoder
}

func (s *EtcdStore) apply(st *etcdState, kv *mvccpb.KeyValue, deleted bool) {
	key := string(kv.Key)
	delete(st.objects, key)
	delete(st.bad, key)
	if key == s.prefix+etcdImportMarker {
		st.importing = !deleted
		return
	}
	if deleted {
		return
	}
	obj, err := s.decode(&st.decoder, key, kv.Value)
	if err != nil {
		st.bad[key] = err
		return
	}
	if obj.Kind() == "" {
		return // A key outside the layout, such as meta/ping.
	}
	obj.Version = kv.ModRevision
	st.objects[key] = obj
}

// etcdKinds lists the kinds of [etcdDirs], the most numerous first, so
// that [EtcdStore.decode] tests prefixes without ranging over a map.
var etcdKinds = []Kind{KindGrant, KindPolicy, KindUser, KindGroup, KindMembership, KindServer}

// decode parses the value of key into an object of the kind its directory
// names. A key in no directory of the layout returns an empty object.
func (s *EtcdStore) decode(dec *jsonValueDecoder, key string, value []byte) (Object, error) {
	rel := strings.TrimPrefix(key, s.prefix)
	for _, kind := range etcdKinds {
		dir := etcdDirs[kind]
		if strings.HasPrefix(rel, dir) {
			obj, err := dec.decodeObject(kind, value)
			if err != nil {
				return Object{}, &LoadError{File: key, Err: err}
			}
			if !strings.HasPrefix(key, s.prefix) || !keyMatches(rel[len(dir):], obj) {
				want := s.key(obj)
				return Object{}, &LoadError{File: key, Err: fmt.Errorf("%s stored under the wrong key, want %s", kind, want)}
			}
			return obj, nil
		}
	}
	return Object{}, nil
}

// etcdPolicy is the stored form of a policy.
type etcdPolicy struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Document    json.RawMessage `json:"document"`
}

// jsonValueDecoder decodes a series of JSON values, each in its own byte
// slice, with one [json.Decoder] and its buffer. A full read of a large
// prefix decodes over 100,000 small values, and a new decoder per value
// was a large share of that read's allocations.
//
// Unknown fields are an error, and so is anything but white space after
// the value. The zero value is ready to use.
type jsonValueDecoder struct {
	src bytes.Reader
	dec *json.Decoder
}

// decode decodes value, which contains one JSON value, into v.
func (d *jsonValueDecoder) decode(value []byte, v any) error {
	if d.dec == nil {
		d.dec = json.NewDecoder(&d.src)
		d.dec.DisallowUnknownFields()
	}
	// The decoder's buffer is empty here, because the decoder is dropped
	// below unless it consumed every byte of the previous value.
	d.src.Reset(value)
	start := d.dec.InputOffset()
	if err := d.dec.Decode(v); err != nil {
		d.dec = nil // An error can leave unread bytes or a sticky error behind.
		return err
	}
	n := d.dec.InputOffset() - start
	if n == int64(len(value)) {
		return nil
	}
	// The decoder may have buffered some of the trailing bytes, so it
	// cannot serve the next value.
	d.dec = nil
	if len(bytes.TrimLeft(value[n:], " \t\r\n")) > 0 {
		return fmt.Errorf("invalid data after the JSON value at offset %d", n)
	}
	return nil
}

// The JSON keys of grantDoc and membershipDoc, in field order, for
// [decodeFlatStrings].
var (
	grantFields      = []string{"policy", "group", "user", "scope", "scope_id"}
	membershipFields = []string{"group", "user"}
)

func decodeObject(kind Kind, value []byte) (Object, error) {
	var d jsonValueDecoder
	return d.decodeObject(kind, value)
}

func (d *jsonValueDecoder) decodeObject(kind Kind, value []byte) (Object, error) {
	switch kind {
	case KindPolicy:
		var p etcdPolicy
		if err := d.decode(value, &p); err != nil {
			return Object{}, err
		}
		return Object{Policy: &evaluator.Policy{Name: p.Name, Description: p.Description, Document: p.Document}}, nil
	case KindUser:
		var u userDoc
		err := d.decode(value, &u)
		return Object{User: (*evaluator.User)(&u)}, err
	case KindGroup:
		var g groupDoc
		err := d.decode(value, &g)
		return Object{Group: (*evaluator.Group)(&g)}, err
	case KindMembership:
		var m membershipDoc
		var err error
		if !decodeFlatStrings(value, membershipFields, []*string{&m.Group, &m.User}) {
			err = d.decode(value, &m)
		}
		return Object{Membership: &evaluator.Membership{GroupID: m.Group, UserID: m.User}}, err
	case KindGrant:
		var g grantDoc
		if !decodeFlatStrings(value, grantFields, []*string{&g.Policy, &g.Group, &g.User, &g.Scope, &g.ScopeID}) {
			if err := d.decode(value, &g); err != nil {
				return Object{}, err
			}
		}
		grant, err := g.grant("")
		return Object{Grant: &grant}, err
	case KindServer:
		var sd serverDoc
		err := d.decode(value, &sd)
		srv := sd.server()
		return Object{Server: &srv}, err
	}
	return Object{}, fmt.Errorf("invalid kind %q", kind)
}

func encodeObject(o Object) ([]byte, error) {
	switch {
	case o.Policy != nil:
		return json.Marshal(etcdPolicy{Name: o.Policy.Name, Description: o.Policy.Description, Document: compactJSON(o.Policy.Document)})
	case o.User != nil:
		return json.Marshal(userDoc(*o.User))
	case o.Group != nil:
		return json.Marshal(groupDoc(*o.Group))
	case o.Membership != nil:
		return json.Marshal(membershipDoc{Group: o.Membership.GroupID, User: o.Membership.UserID})
	case o.Grant != nil:
		return json.Marshal(grantToDoc(*o.Grant))
	case o.Server != nil:
		s := o.Server
		return json.Marshal(serverDoc{ID: s.ID, ProjectID: s.ProjectID, EnterpriseProjectID: s.EnterpriseProjectID, Tags: s.Tags})
	}
	return nil, errors.New("object has no content")
}

// keyMatches reports whether name, an etcd key without the prefix and
// directory, is the key of o. For a grant it compares the parts of
// [GrantKey] in place, because building that key for each of 100,000
// grants was a visible share of a full read.
func keyMatches(name string, o Object) bool {
	switch {
	case o.Grant != nil:
		return grantKeyMatches(name, *o.Grant)
	case o.Membership != nil:
		return name == MembershipKey(*o.Membership)
	}
	return name == url.PathEscape(o.Key())
}

// grantKeyMatches reports whether key equals GrantKey(g).
func grantKeyMatches(key string, g evaluator.Grant) bool {
	kind, id := "user:", g.UserID
	if g.GroupID != "" {
		kind, id = "group:", g.GroupID
	}
	rest, ok := strings.CutPrefix(key, kind)
	cut := func(part string) bool {
		rest, ok = strings.CutPrefix(rest, part)
		return ok
	}
	if !ok || !cut(url.PathEscape(id)) || !cut("/") || !cut(ScopeName(g.Scope)) {
		return false
	}
	if g.ScopeID != "" && (!cut(":") || !cut(url.PathEscape(g.ScopeID))) {
		return false
	}
	return cut("/") && cut(url.PathEscape(g.Policy)) && rest == ""
}

// key returns the etcd key of o.
func (s *EtcdStore) key(o Object) string {
	return s.keyOf(o.Kind(), o.Key())
}

func (s *EtcdStore) keyOf(k Kind, key string) string {
	switch k {
	case KindMembership, KindGrant:
		return s.prefix + etcdDirs[k] + key // Already path-escaped.
	}
	return s.prefix + etcdDirs[k] + url.PathEscape(key)
}

// snapshot builds a validated snapshot from st.
func (s *EtcdStore) snapshot(st *etcdState) (*Snapshot, error) {
	if len(st.bad) > 0 {
		errs := make([]error, 0, len(st.bad))
		for _, err := range st.bad {
			errs = append(errs, err)
		}
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return nil, errors.Join(errs...)
	}
	data := st.presizedData()
	for key, o := range st.objects {
		// Source is set on the copy in data, so that the objects of st,
		// which later events update, stay apart from the snapshot.
		switch {
		case o.Policy != nil:
			data.Policies = append(data.Policies, *o.Policy)
			data.Policies[len(data.Policies)-1].Source = key
		case o.Grant != nil:
			data.Grants = append(data.Grants, *o.Grant)
			data.Grants[len(data.Grants)-1].Source = key
		case o.User != nil:
			data.Users = append(data.Users, *o.User)
		case o.Group != nil:
			data.Groups = append(data.Groups, *o.Group)
		case o.Membership != nil:
			data.Memberships = append(data.Memberships, *o.Membership)
		case o.Server != nil:
			data.Servers = append(data.Servers, *o.Server)
		}
	}
	if err := ValidateData(s.opts.validate, data); err != nil {
		return nil, err
	}
	SortData(data)
	return &Snapshot{Data: data, Revision: strconv.FormatInt(st.revision, 10), LoadedAt: time.Now()}, nil
}

// presizedData returns empty data with room for the objects of st.
func (st *etcdState) presizedData() *evaluator.Data {
	n := make(map[Kind]int, len(etcdDirs))
	for _, o := range st.objects {
		n[o.Kind()]++
	}
	return &evaluator.Data{
		Policies:    make([]evaluator.Policy, 0, n[KindPolicy]),
		Users:       make([]evaluator.User, 0, n[KindUser]),
		Groups:      make([]evaluator.Group, 0, n[KindGroup]),
		Memberships: make([]evaluator.Membership, 0, n[KindMembership]),
		Grants:      make([]evaluator.Grant, 0, n[KindGrant]),
		Servers:     make([]evaluator.Server, 0, n[KindServer]),
	}
}

// etcdReadTimeout bounds one read of the whole prefix. The etcd client
// otherwise waits for a connection without limit, and a watch that is
// waiting would report nothing while etcd is down.
const etcdReadTimeout = time.Minute

// readAll reads every key under the prefix at one revision.
func (s *EtcdStore) readAll(ctx context.Context) (*etcdState, error) {
	ctx, cancel := context.WithTimeout(ctx, etcdReadTimeout)
	defer cancel()
	resp, err := s.cli.Get(ctx, s.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("failed to read etcd prefix %s: %w", s.prefix, err)
	}
	st := &etcdState{revision: resp.Header.Revision, objects: make(map[string]Object, len(resp.Kvs)), bad: map[string]error{}}
	for _, kv := range resp.Kvs {
		s.apply(st, kv, false)
	}
	return st, nil
}

// errImportInProgress means a [EtcdStore.Replace] has not finished.
var errImportInProgress = errors.New("an import into the etcd prefix is in progress")

// Load reads the whole prefix at one revision and validates it.
func (s *EtcdStore) Load(ctx context.Context) (*Snapshot, error) {
	st, err := s.readAll(ctx)
	if err != nil {
		return nil, err
	}
	if st.importing {
		return nil, errImportInProgress
	}
	return s.snapshot(st)
}

// Watch reads the prefix at one revision, then watches from the next
// revision and applies each batch of events to its copy once no further
// event arrived for the debounce interval. A compacted revision, a
// canceled watch or a failed read restarts it with a full read.
func (s *EtcdStore) Watch(ctx context.Context, onChange func(*Snapshot), onError func(error)) error {
	backoff := minBackoff
	for {
		err := s.watchFrom(ctx, onChange, onError)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, rpctypes.ErrCompacted) {
			s.opts.logger.Info("etcd watch revision compacted; reading the prefix again", "prefix", s.prefix)
			backoff = minBackoff
			continue
		}
		onError(err)
		s.opts.logger.Warn("etcd watch failed; retrying", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

func (s *EtcdStore) watchFrom(ctx context.Context, onChange func(*Snapshot), onError func(error)) error {
	st, err := s.readAll(ctx)
	if err != nil {
		return err
	}
	deliver := func() {
		if st.importing {
			return // The import's last write delivers.
		}
		snap, err := s.snapshot(st)
		if err != nil {
			onError(err)
			return
		}
		onChange(snap)
	}
	deliver()

	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	events := s.cli.Watch(wctx, s.prefix, clientv3.WithPrefix(), clientv3.WithRev(st.revision+1))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case resp, ok := <-events:
			if !ok {
				return errors.New("etcd watch channel closed")
			}
			if resp.CompactRevision != 0 {
				return rpctypes.ErrCompacted
			}
			if err := resp.Err(); err != nil {
				return fmt.Errorf("etcd watch failed: %w", err)
			}
			for _, ev := range resp.Events {
				s.apply(st, ev.Kv, ev.Type == clientv3.EventTypeDelete)
			}
			st.revision = resp.Header.Revision
			timer.Reset(s.opts.debounce)
		case <-timer.C:
			deliver()
		}
	}
}
