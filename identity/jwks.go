package identity

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// keySet stores the current JWKS and refreshes it: every RefreshInterval in
// the background, and on demand when a token names an unknown key id, at
// most once per MinRefreshInterval.
type keySet struct {
	conf    JWTConfig
	client  *http.Client
	logger  *slog.Logger
	now     func() time.Time
	changed func()

	current atomic.Pointer[jose.JSONWebKeySet]

	// fetchMu serializes fetches. raw and lastFetch are guarded by it.
	fetchMu   sync.Mutex
	raw       []byte
	lastFetch time.Time

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func newKeySet(ctx context.Context, conf JWTConfig, client *http.Client, logger *slog.Logger, now func() time.Time, changed func()) (*keySet, error) {
	if client == nil && conf.JWKSURL != "" {
		var err error
		client, err = newJWKSClient(conf.JWKSCAFile)
		if err != nil {
			return nil, err
		}
	}
	keys := &keySet{
		conf:    conf,
		client:  client,
		logger:  logger,
		now:     now,
		changed: changed,
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	if err := keys.refresh(ctx); err != nil {
		return nil, err
	}
	go keys.run()
	return keys, nil
}

func newJWKSClient(caFile string) (*http.Client, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read identity.jwt.jwks_ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("identity.jwt.jwks_ca_file %s contains no PEM certificate", caFile)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: transport}, nil
}

func (k *keySet) source() string {
	if k.conf.JWKSURL != "" {
		return k.conf.JWKSURL
	}
	return k.conf.JWKSFile
}

// run refreshes the key set every RefreshInterval until close.
func (k *keySet) run() {
	defer close(k.done)
	ticker := time.NewTicker(k.conf.RefreshInterval)
	defer ticker.Stop()
	for {
		select {
		case <-k.stop:
			return
		case <-ticker.C:
			ctx, cancel := context.WithTimeout(context.Background(), k.conf.FetchTimeout)
			if err := k.refresh(ctx); err != nil {
				k.logger.Warn("JWKS refresh failed; keeping the previous keys", "source", k.source(), "error", err)
			}
			cancel()
		}
	}
}

func (k *keySet) close() {
	k.closeOnce.Do(func() {
		close(k.stop)
		<-k.done
	})
}

// keys returns the keys named kid, or every key when kid is "".
func (k *keySet) keys(kid string) []jose.JSONWebKey {
	set := k.current.Load()
	if kid == "" {
		return set.Keys
	}
	return set.Key(kid)
}

// refreshForUnknownKey fetches the JWKS again unless the last fetch was less
// than MinRefreshInterval ago. It reports whether it fetched a key set.
func (k *keySet) refreshForUnknownKey(ctx context.Context, kid string) bool {
	ctx, cancel := context.WithTimeout(ctx, k.conf.FetchTimeout)
	defer cancel()
	fetched, err := k.refreshAfter(ctx, k.conf.MinRefreshInterval)
	if err != nil {
		k.logger.Warn("JWKS refresh for an unknown key id failed", "source", k.source(), "kid", kid, "error", err)
		return false
	}
	return fetched
}

// refresh fetches and parses the JWKS and swaps it in when it changed.
func (k *keySet) refresh(ctx context.Context) error {
	_, err := k.refreshAfter(ctx, 0)
	return err
}

// refreshAfter is refresh, skipped when the last fetch started less than
// minInterval ago. The check runs under fetchMu, so concurrent callers
// cause one fetch. It reports whether it fetched.
func (k *keySet) refreshAfter(ctx context.Context, minInterval time.Duration) (bool, error) {
	k.fetchMu.Lock()
	defer k.fetchMu.Unlock()
	now := k.now()
	if !k.lastFetch.IsZero() && now.Sub(k.lastFetch) < minInterval {
		return false, nil
	}
	k.lastFetch = now

	raw, err := k.fetch(ctx)
	if err != nil {
		return true, err
	}
	if k.current.Load() != nil && bytes.Equal(raw, k.raw) {
		return true, nil
	}
	set, skipped, err := parseJWKS(raw)
	if err != nil {
		return true, fmt.Errorf("invalid JWKS from %s: %w", k.source(), err)
	}
	for _, reason := range skipped {
		k.logger.Warn("JWKS key skipped", "source", k.source(), "reason", reason)
	}

	first := k.current.Load() == nil
	k.current.Store(set)
	k.raw = raw
	if !first && k.changed != nil {
		k.changed()
	}
	k.logger.Info("JWKS loaded", "source", k.source(), "keys", len(set.Keys))
	return true, nil
}

func (k *keySet) fetch(ctx context.Context) ([]byte, error) {
	if k.conf.JWKSURL == "" {
		raw, err := os.ReadFile(k.conf.JWKSFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read JWKS file: %w", err)
		}
		return raw, nil
	}

	request, err := http.NewRequestWithContext(ctx, http.MethodGet, k.conf.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("failed to build JWKS request: %w", err)
	}
	request.Header.Set("Accept", "application/json")
	response, err := k.client.Do(request)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch JWKS: %w", err)
	}
	defer response.Body.Close()
	if response.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("failed to fetch JWKS from %s: HTTP status %d", k.conf.JWKSURL, response.StatusCode)
	}
	raw, err := io.ReadAll(io.LimitReader(response.Body, maxJWKSResponseBytes+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read JWKS from %s: %w", k.conf.JWKSURL, err)
	}
	if len(raw) > maxJWKSResponseBytes {
		return nil, fmt.Errorf("JWKS from %s exceeds %d bytes", k.conf.JWKSURL, maxJWKSResponseBytes)
	}
	return raw, nil
}

// parseJWKS decodes a JWKS and keeps only public signature keys. It returns
// why each other key was skipped, and an error when no key is left.
func parseJWKS(raw []byte) (*jose.JSONWebKeySet, []string, error) {
	var document struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &document); err != nil {
		return nil, nil, err
	}

	set := &jose.JSONWebKeySet{}
	var skipped []string
	for i, entry := range document.Keys {
		var key jose.JSONWebKey
		if err := key.UnmarshalJSON(entry); err != nil {
			skipped = append(skipped, fmt.Sprintf("keys[%d]: %v", i, err))
			continue
		}
		switch {
		case key.Use != "" && key.Use != "sig":
			skipped = append(skipped, fmt.Sprintf("keys[%d] kid %q: use is %q, not sig", i, key.KeyID, key.Use))
		case !key.Valid() || !key.IsPublic():
			// IsPublic is false for symmetric and private keys alike.
			skipped = append(skipped, fmt.Sprintf("keys[%d] kid %q: not a valid asymmetric public key", i, key.KeyID))
		default:
			set.Keys = append(set.Keys, key)
		}
	}
	if len(set.Keys) == 0 {
		return nil, skipped, errors.New("no usable public signature key")
	}
	return set, skipped, nil
}
