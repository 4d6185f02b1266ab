package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ecsauthz/ecsauthz/store"
)

const storeUsage = `Usage:
  ecsauthz store migrate --dsn DSN
  ecsauthz store import DIR (--dsn DSN | --etcd-endpoints URL[,URL...] [--prefix PREFIX])
  ecsauthz store export DIR (--dsn DSN | --etcd-endpoints URL[,URL...] [--prefix PREFIX])

migrate applies the PostgreSQL schema migrations that the database at DSN
has not applied yet.

import validates the file store in DIR and replaces the whole content of
the PostgreSQL database or etcd prefix with it: in one transaction for
PostgreSQL, and for etcd behind a marker key that keeps watchers on their
last snapshot until the import is complete.

export writes the content of the database or etcd prefix into DIR, which
must be empty or not exist, in the file store layout.

Flags may come before or after DIR.
`

// runStore runs "ecsauthz store migrate|import|export" and returns the exit
// code: 0 on success, 1 on failure, 2 on usage errors.
func runStore(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, storeUsage)
		return 2
	}
	switch args[0] {
	case "migrate", "import", "export":
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, storeUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "ecsauthz store: unknown subcommand %q\n\n%s", args[0], storeUsage)
		return 2
	}

	cmd := args[0]
	opts, err := parseStoreFlags(cmd, args[1:], stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz store %s: %v\n\n%s", cmd, err, storeUsage)
		return 2
	}

	ctx, cancel := context.WithTimeout(ctx, opts.timeout)
	defer cancel()
	switch cmd {
	case "migrate":
		err = storeMigrate(ctx, opts, stdout)
	case "import":
		err = storeImport(ctx, opts, stdout)
	case "export":
		err = storeExport(ctx, opts, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz store %s: %v\n", cmd, err)
		return 1
	}
	return 0
}

type storeOptions struct {
	dir       string
	dsn       string
	endpoints []string
	prefix    string
	timeout   time.Duration
}

// parseStoreFlags parses the flags of one subcommand, which may come
// before or after the DIR argument, and checks their combination.
func parseStoreFlags(cmd string, args []string, stderr io.Writer) (storeOptions, error) {
	var o storeOptions
	var endpoints string
	fs := flag.NewFlagSet("ecsauthz store "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.dsn, "dsn", "", "PostgreSQL connection `string`, e.g. postgres://user@127.0.0.1:5432/ecsauthz")
	if cmd != "migrate" {
		fs.StringVar(&endpoints, "etcd-endpoints", "", "comma-separated etcd client `URLs`")
		fs.StringVar(&o.prefix, "prefix", store.DefaultPrefix, "etcd key `prefix`, starting and ending with /")
	}
	fs.DurationVar(&o.timeout, "timeout", 5*time.Minute, "maximum `duration` of the whole command")

	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return o, err
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if endpoints != "" {
		o.endpoints = strings.Split(endpoints, ",")
	}

	switch {
	case cmd == "migrate" && len(positional) > 0:
		return o, fmt.Errorf("unexpected argument %q", positional[0])
	case cmd == "migrate" && o.dsn == "":
		return o, errors.New("--dsn is required")
	case cmd == "migrate":
		return o, nil
	case len(positional) != 1:
		return o, fmt.Errorf("want exactly one DIR argument, got %d", len(positional))
	case (o.dsn == "") == (len(o.endpoints) == 0):
		return o, errors.New("set exactly one of --dsn and --etcd-endpoints")
	}
	o.dir = positional[0]
	return o, nil
}

func storeMigrate(ctx context.Context, o storeOptions, stdout io.Writer) error {
	applied, err := store.Migrate(ctx, o.dsn)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintf(stdout, "schema is up to date at version %d\n", store.SchemaVersion())
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v; schema is at version %d\n", applied, store.SchemaVersion())
	return nil
}

// openWriter opens the database or etcd store the flags name.
func openWriter(ctx context.Context, o storeOptions) (store.Store, store.Writer, error) {
	conf := store.Config{Backend: store.BackendPostgres, DSN: o.dsn}
	if len(o.endpoints) > 0 {
		conf = store.Config{Backend: store.BackendEtcd, Endpoints: o.endpoints, Prefix: o.prefix}
	}
	st, err := store.Open(ctx, conf, store.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		return nil, nil, err
	}
	w, err := store.AsWriter(st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, w, nil
}

func storeImport(ctx context.Context, o storeOptions, stdout io.Writer) error {
	snap, err := store.NewFileStore(o.dir).Load(ctx)
	if err != nil {
		return fmt.Errorf("invalid file store %s:\n%w", o.dir, err)
	}
	st, w, err := openWriter(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := w.Replace(ctx, snap.Data); err != nil {
		return fmt.Errorf("failed to import: %w", err)
	}
	fmt.Fprintf(stdout, "imported %s\n", summarize(snap))
	return nil
}

func storeExport(ctx context.Context, o storeOptions, stdout io.Writer) error {
	st, _, err := openWriter(ctx, o)
	if err != nil {
		return err
	}
	defer st.Close()
	snap, err := st.Load(ctx)
	if err != nil {
		return fmt.Errorf("failed to read the store: %w", err)
	}
	if err := store.WriteDir(o.dir, snap.Data); err != nil {
		return fmt.Errorf("failed to export: %w", err)
	}
	fmt.Fprintf(stdout, "exported %s at revision %s into %s\n", summarize(snap), snap.Revision, o.dir)
	return nil
}

func summarize(snap *store.Snapshot) string {
	d := snap.Data
	return strings.Join([]string{
		count(len(d.Policies), "policy", "policies"),
		count(len(d.Users), "user", "users"),
		count(len(d.Groups), "group", "groups"),
		count(len(d.Memberships), "membership", "memberships"),
		count(len(d.Grants), "grant", "grants"),
		count(len(d.Servers), "server", "servers"),
	}, ", ")
}
