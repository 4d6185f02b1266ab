// Package storetest starts real PostgreSQL and etcd servers for tests of
// the policy store and of packages built on it.
//
// PostgreSQL comes from the Debian binaries under /usr/lib/postgresql/*/bin
// (package postgresql-15), or from the server named by the environment
// variable ECSAUTHZ_TEST_PG_DSN. etcd runs in-process. A missing server
// skips the test with a message saying what to install, except when CI is
// "true", where it fails the test.
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DSNEnv names the environment variable with the DSN of an existing
// PostgreSQL server to use instead of starting one. Each test gets a new
// database on it, created and dropped by the test.
const DSNEnv = "ECSAUTHZ_TEST_PG_DSN"

const installHint = "install PostgreSQL 15 (apt-get install postgresql-15) or set " + DSNEnv

// unavailable skips the test, or fails it when CI=true.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// PostgresCluster is a PostgreSQL server that a test started in a
// temporary directory, listening on a free loopback port.
type PostgresCluster struct {
	bin     string
	dataDir string
	port    int
	asUser  string // system user that runs the server; "" for the current user
	logFile string
}

var (
	mainRunning   bool // set by RunMain, which stops the shared server
	sharedOnce    sync.Once
	sharedCluster *PostgresCluster
	sharedErr     error
)

// PostgresDSN returns the DSN of a new, empty database for t, dropped
// when t ends. The database lives on the server named by [DSNEnv] if that
// is set. Otherwise, under [RunMain], it lives on one server that the
// package's tests share and RunMain stops. Otherwise t gets a server of
// its own.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(DSNEnv)
	if base == "" && !mainRunning {
		return StartPostgres(t).NewDatabase(t)
	}
	if base == "" {
		sharedOnce.Do(func() { sharedCluster, sharedErr = startPostgres() })
		if sharedErr != nil {
			unavailable(t, "PostgreSQL unavailable: %v; %s", sharedErr, installHint)
		}
		base = sharedCluster.DSN("postgres")
	}
	return createDatabase(t, base)
}

// StartPostgres starts a PostgreSQL server of t's own, which the test may
// stop and start again. The server is stopped when t ends. It needs the
// PostgreSQL binaries even when [DSNEnv] is set, because a server the test
// did not start cannot be stopped. Without them it skips, or with CI=true
// fails.
func StartPostgres(t testing.TB) *PostgresCluster {
	t.Helper()
	c, err := startPostgres()
	if err != nil {
		unavailable(t, "PostgreSQL unavailable: %v; install PostgreSQL 15 (apt-get install postgresql-15)", err)
	}
	t.Cleanup(func() { _ = c.Destroy() })
	return c
}

// RunMain runs the tests of m and then stops the shared PostgreSQL server,
// if one was started. Call it from TestMain: os.Exit(storetest.RunMain(m)).
func RunMain(m *testing.M) int {
	mainRunning = true
	code := m.Run()
	if sharedCluster != nil {
		if err := sharedCluster.Destroy(); err != nil {
			fmt.Fprintln(os.Stderr, "storetest:", err)
		}
	}
	return code
}

// findPostgresBin returns the newest /usr/lib/postgresql/*/bin holding
// initdb and pg_ctl.
func findPostgresBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "initdb")) && fileExists(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("initdb not found under /usr/lib/postgresql/*/bin or in PATH")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// startPostgres runs initdb and pg_ctl start. initdb and postgres reject
// running as root, so as root they run as the postgres system user in a
// directory that user owns.
func startPostgres() (*PostgresCluster, error) {
	bin, err := findPostgresBin()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "ecsauthz-pg-")
	if err != nil {
		return nil, err
	}
	c := &PostgresCluster{bin: bin, dataDir: filepath.Join(dir, "data"), logFile: filepath.Join(dir, "postgres.log")}
	if os.Geteuid() == 0 {
		if err := chownToPostgres(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		c.asUser = "postgres"
	}
	if out, err := c.run("initdb", "-D", c.dataDir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb failed: %w: %s", err, out)
	}
	if c.port, err = freePort(); err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func chownToPostgres(dir string) error {
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs the postgres system user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return os.Chown(dir, uid, gid)
}

func (c *PostgresCluster) run(tool string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, tool)
	var cmd *exec.Cmd
	if c.asUser != "" {
		cmd = exec.Command("runuser", append([]string{"-u", c.asUser, "--", path}, args...)...)
	} else {
		cmd = exec.Command(path, args...)
	}
	cmd.Dir = filepath.Dir(c.dataDir)
	return cmd.CombinedOutput()
}

// Start starts the server and waits until it accepts connections.
func (c *PostgresCluster) Start() error {
	opts := fmt.Sprintf("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s -c fsync=off -c max_connections=200",
		c.port, filepath.Dir(c.dataDir))
	out, err := c.run("pg_ctl", "-D", c.dataDir, "-l", c.logFile, "-o", opts, "-w", "-t", "60", "start")
	if err != nil {
		log, _ := os.ReadFile(c.logFile)
		return fmt.Errorf("pg_ctl start failed: %w: %s\n%s", err, out, log)
	}
	return nil
}

// Stop stops the server (fast shutdown: open connections are closed).
func (c *PostgresCluster) Stop() error {
	out, err := c.run("pg_ctl", "-D", c.dataDir, "-m", "fast", "-w", "-t", "60", "stop")
	if err != nil {
		return fmt.Errorf("pg_ctl stop failed: %w: %s", err, out)
	}
	return nil
}

// Destroy stops the server if it runs and removes its directory.
func (c *PostgresCluster) Destroy() error {
	var err error
	if fileExists(filepath.Join(c.dataDir, "postmaster.pid")) {
		err = c.Stop()
	}
	return errors.Join(err, os.RemoveAll(filepath.Dir(c.dataDir)))
}

// DSN returns the DSN of database db on the server.
func (c *PostgresCluster) DSN(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, db)
}

// NewDatabase creates an empty database on the server and returns its DSN.
func (c *PostgresCluster) NewDatabase(t testing.TB) string {
	t.Helper()
	return createDatabase(t, c.DSN("postgres"))
}

// createDatabase creates a database with a random name through base and
// drops it when t ends.
func createDatabase(t testing.TB, base string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("failed to connect to PostgreSQL at %s: %v", redact(base), err)
	}
	defer conn.Close(context.Background())

	name := "ecsauthz_test_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("failed to create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			return // The server is gone; so is the database.
		}
		defer conn.Close(context.Background())
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(base, name)
}

// withDatabase returns dsn with its database replaced by db. dsn is a URL
// or a key=value connection string.
func withDatabase(dsn, db string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + db
		return u.String()
	}
	return strings.TrimSpace(dsn) + " dbname=" + db
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		u.User = url.User(u.User.Username())
		return u.String()
	}
	return "the configured DSN"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
