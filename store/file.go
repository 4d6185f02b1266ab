package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// PoliciesDir is the subdirectory of a file store that holds policy
// documents, one per *.json file.
const PoliciesDir = "policies"

// FileStore reads a directory of YAML and JSON documents; see
// docs/policy-store.md for the schema. It is read-only.
type FileStore struct {
	dir  string
	opts options
}

var _ Store = (*FileStore)(nil)

// NewFileStore returns a store reading dir. Nothing is read until
// [FileStore.Load] or [FileStore.Watch].
func NewFileStore(dir string, opts ...Option) *FileStore {
	return &FileStore{dir: dir, opts: applyOptions(opts)}
}

// Dir returns the directory the store reads.
func (s *FileStore) Dir() string { return s.dir }

// Load reads every document of the directory. The error joins every
// problem found, each a [*LoadError] with file and line.
func (s *FileStore) Load(ctx context.Context) (*Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	files, err := s.listFiles()
	if err != nil {
		return nil, err
	}

	var (
		res  resourceDoc
		errs []error
		hash = sha256.New()
	)
	for _, f := range files {
		src, err := os.ReadFile(f.path)
		if err != nil {
			errs = append(errs, &LoadError{File: f.path, Err: err})
			continue
		}
		fmt.Fprintf(hash, "%s\x00%d\x00", f.rel, len(src))
		hash.Write(src)
		if f.policy {
			p, err := parsePolicyFile(f.path, src)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			res.data.Policies = append(res.data.Policies, p)
			continue
		}
		if strings.HasSuffix(f.path, ".json") {
			errs = append(errs, res.parseJSON(f.path, src)...)
			continue
		}
		errs = append(errs, res.parse(f.path, src)...)
	}
	if len(errs) == 0 {
		errs = append(errs, validateData(s.opts.validate, &res.data, res.locations))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	SortData(&res.data)
	return &Snapshot{
		Data:     &res.data,
		Revision: hex.EncodeToString(hash.Sum(nil)[:12]),
		LoadedAt: time.Now(),
	}, nil
}

type storeFile struct {
	path, rel string
	policy    bool
}

// listFiles returns the documents of the store in a fixed order: resource
// documents (*.yaml, *.yml, *.json) at the top level, then policy
// documents (*.json) in the policies directory. Hidden files and other
// names are skipped so that editor backups do not count.
func (s *FileStore) listFiles() ([]storeFile, error) {
	var files []storeFile
	top, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("failed to read policy store directory: %w", err)
	}
	for _, e := range top {
		if e.IsDir() || !isDocumentName(e.Name(), ".yaml", ".yml", ".json") {
			continue
		}
		files = append(files, storeFile{path: filepath.Join(s.dir, e.Name()), rel: e.Name()})
	}

	pol, err := os.ReadDir(filepath.Join(s.dir, PoliciesDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("failed to read policy directory: %w", err)
	}
	for _, e := range pol {
		if e.IsDir() || !isDocumentName(e.Name(), ".json") {
			continue
		}
		rel := PoliciesDir + "/" + e.Name()
		files = append(files, storeFile{path: filepath.Join(s.dir, PoliciesDir, e.Name()), rel: rel, policy: true})
	}
	sort.SliceStable(files, func(i, j int) bool { return files[i].rel < files[j].rel })
	return files, nil
}

func isDocumentName(name string, exts ...string) bool {
	if strings.HasPrefix(name, ".") || strings.HasPrefix(name, "#") {
		return false
	}
	for _, ext := range exts {
		if strings.HasSuffix(name, ext) && len(name) > len(ext) {
			return true
		}
	}
	return false
}

// policyWrapper is the wrapped form of a policy file, which names the
// policy itself instead of taking the file name.
type policyWrapper struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Policy      json.RawMessage `json:"policy"`
}

// parsePolicyFile reads one policy file: either a bare IAM policy document
// ({"Version": "1.1", "Statement": [...]}, named after the file without
// .json) or a wrapper {"name", "description", "policy"}. The document is
// kept byte for byte, so that it reads as it was pasted.
func parsePolicyFile(path string, src []byte) (evaluator.Policy, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(src, &top); err != nil {
		return evaluator.Policy{}, jsonLoadError(path, src, err)
	}
	_, hasVersion := top["Version"]
	_, hasStatement := top["Statement"]
	if hasVersion || hasStatement {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		return evaluator.Policy{Name: name, Document: bytes.TrimSpace(src), Source: path + ":1"}, nil
	}

	var w policyWrapper
	dec := json.NewDecoder(bytes.NewReader(src))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&w); err != nil {
		return evaluator.Policy{}, jsonLoadError(path, src, err)
	}
	if w.Name == "" || len(w.Policy) == 0 {
		return evaluator.Policy{}, &LoadError{File: path, Line: 1,
			Err: errors.New(`policy file must be an IAM policy document with "Version" and "Statement", or a wrapper with "name" and "policy"`)}
	}
	line := 1 + bytes.Count(src[:bytes.Index(src, []byte(`"policy"`))], []byte("\n"))
	return evaluator.Policy{Name: w.Name, Description: w.Description, Document: w.Policy,
		Source: fmt.Sprintf("%s:%d", path, line)}, nil
}

// jsonLoadError locates a encoding/json error by line where the error
// carries an offset.
func jsonLoadError(path string, src []byte, err error) error {
	var offset int64 = -1
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	line := 1
	if offset > 0 && offset <= int64(len(src)) {
		line += bytes.Count(src[:offset], []byte("\n"))
	}
	if strings.HasPrefix(err.Error(), "json: unknown field ") {
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		if i := bytes.Index(src, []byte(`"`+field+`"`)); i >= 0 {
			line = 1 + bytes.Count(src[:i], []byte("\n"))
		}
	}
	return &LoadError{File: path, Line: line, Err: err}
}

// Watch loads the store, then reloads it after every change to the
// directory or its policies subdirectory, once no further change arrived
// for the debounce interval.
func (s *FileStore) Watch(ctx context.Context, onChange func(*Snapshot), onError func(error)) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("failed to start file watcher: %w", err)
	}
	defer w.Close()
	if err := w.Add(s.dir); err != nil {
		return fmt.Errorf("failed to watch %s: %w", s.dir, err)
	}
	s.watchPolicies(w)

	reload := func() {
		snap, err := s.Load(ctx)
		if err != nil {
			if ctx.Err() == nil {
				onError(err)
			}
			return
		}
		onChange(snap)
	}
	reload()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case ev, ok := <-w.Events:
			if !ok {
				return errors.New("file watcher closed")
			}
			if filepath.Base(ev.Name) == PoliciesDir && ev.Has(fsnotify.Create) {
				s.watchPolicies(w)
			}
			timer.Reset(s.opts.debounce)
		case err, ok := <-w.Errors:
			if !ok {
				return errors.New("file watcher closed")
			}
			onError(fmt.Errorf("file watcher: %w", err))
			timer.Reset(s.opts.debounce)
		case <-timer.C:
			reload()
		}
	}
}

// watchPolicies adds the policies subdirectory to w if it exists. A
// missing directory is not an error: it is added once created.
func (s *FileStore) watchPolicies(w *fsnotify.Watcher) {
	dir := filepath.Join(s.dir, PoliciesDir)
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		if err := w.Add(dir); err != nil {
			s.opts.logger.Warn("failed to watch policy directory", "dir", dir, "error", err)
		}
	}
}

// Ping checks that the directory can be read.
func (s *FileStore) Ping(context.Context) error {
	_, err := os.Stat(s.dir)
	return err
}

// Close does nothing: the file store holds no resources between calls.
func (s *FileStore) Close() error { return nil }

// Option configures a store backend.
type Option func(*options)

type options struct {
	validate PolicyValidator
	debounce time.Duration
	logger   *slog.Logger
}

func applyOptions(opts []Option) options {
	o := options{debounce: DefaultDebounce, logger: slog.Default(), validate: DefaultPolicyValidator}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithValidator sets the policy validator applied to every policy document
// the store reads or writes, instead of [DefaultPolicyValidator]. A nil
// validator leaves only the structural checks.
func WithValidator(v PolicyValidator) Option { return func(o *options) { o.validate = v } }

// WithDebounce sets how long a store waits after a change for further
// changes before it reloads.
func WithDebounce(d time.Duration) Option {
	return func(o *options) {
		if d > 0 {
			o.debounce = d
		}
	}
}

// WithLogger sets the logger of the store; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}
