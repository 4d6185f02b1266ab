package server

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/store"
)

// lockedBuffer is a bytes.Buffer that a reloader goroutine and the test
// can use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// brokenExampleStore copies the example file store and points one grant at
// a policy that does not exist.
func brokenExampleStore(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS("../examples/policies")); err != nil {
		t.Fatal(err)
	}
	grants := filepath.Join(dir, "grants.yaml")
	data, err := os.ReadFile(grants)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(data), "policy: deny-server-delete", "policy: no-such-policy", 1)
	if broken == string(data) {
		t.Fatal("examples/policies/grants.yaml no longer grants deny-server-delete")
	}
	if err := os.WriteFile(grants, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestReloadFailureNamesCompileOnce(t *testing.T) {
	cat, err := LoadCatalog(CatalogConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var logs lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	reloader, err := store.NewReloader(store.NewFileStore(brokenExampleStore(t)), compileFunc(cat, evaluator.Config{}, logger), store.ReloaderConfig{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = reloader.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()

	deadline := time.Now().Add(10 * time.Second)
	for reloader.Health().Failures == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the reloader reported no failure within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	lastError := reloader.Health().LastError
	if !strings.Contains(lastError, `policy "no-such-policy" not found`) {
		t.Errorf("last error %q does not name the missing policy", lastError)
	}
	if n := strings.Count(lastError, "failed to compile"); n != 1 {
		t.Errorf("last error %q says \"failed to compile\" %d times, want once", lastError, n)
	}
	if n := strings.Count(logs.String(), "failed to compile"); n != 1 {
		t.Errorf("log says \"failed to compile\" %d times, want once:\n%s", n, logs.String())
	}
}
