package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

func TestTokenCacheHit(t *testing.T) {
	keys := loadTestKeys(t)
	now := testNow
	conf := Config{Sources: []string{SourceJWT}}
	conf.JWT.JWKSFile = writeJWKS(t, "", keys.rsa)
	conf.SetDefaults()
	resolver, err := New(conf, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer resolver.Close()

	claims := testClaims()
	claims["amr"] = []string{"mfa"}
	claims["auth_time"] = testNow.Add(-time.Minute).Unix()
	input := &Input{Headers: bearer(sign(t, keys.rsa, claims))}
	if _, err := resolver.Identify(context.Background(), input); err != nil {
		t.Fatalf("first Identify() error = %v", err)
	}
	if got := resolver.cache.len(); got != 1 {
		t.Fatalf("cache length = %d, want 1", got)
	}

	// With no keys left, only the cache can identify the caller.
	resolver.keys.current.Store(&jose.JSONWebKeySet{})
	now = testNow.Add(5 * time.Minute)
	got, err := resolver.Identify(context.Background(), input)
	if err != nil {
		t.Fatalf("cached Identify() error = %v", err)
	}
	if got.UserID != "u-0001" {
		t.Errorf("cached Identify() user = %q, want u-0001", got.UserID)
	}
	if got.MFAAge != 360 {
		t.Errorf("cached Identify() MFAAge = %d, want 360 (recomputed per request)", got.MFAAge)
	}

	// Past exp plus the clock skew the entry is dropped and the token
	// verified again, which now fails.
	now = testNow.Add(time.Hour + DefaultClockSkew + time.Second)
	if _, err := resolver.Identify(context.Background(), input); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("Identify() after expiry error = %v, want ErrUnauthenticated", err)
	}
	if got := resolver.cache.len(); got != 0 {
		t.Errorf("cache length after expiry = %d, want 0", got)
	}
}

func TestTokenCacheEviction(t *testing.T) {
	cache := newTokenCache(2)
	for i := range 3 {
		cache.put(hashToken(string(rune('a'+i))), 100, verification{identity: tokenIdentity{authTime: int64(i)}})
	}
	if _, ok := cache.get(hashToken("a"), 0); ok {
		t.Error("get(a) hit, want the oldest entry evicted")
	}
	if _, ok := cache.get(hashToken("c"), 0); !ok {
		t.Error("get(c) missed, want a hit")
	}
	if _, ok := cache.get(hashToken("c"), 101); ok {
		t.Error("get(c) after expiry hit, want a miss")
	}

	disabled := newTokenCache(0)
	disabled.put(hashToken("a"), 100, verification{})
	if _, ok := disabled.get(hashToken("a"), 0); ok {
		t.Error("disabled cache hit, want a miss")
	}
}

func TestJWKSRefreshOnUnknownKey(t *testing.T) {
	keys := loadTestKeys(t)
	path := writeJWKS(t, "", keys.ec)
	now := testNow
	conf := Config{Sources: []string{SourceJWT}}
	conf.JWT.JWKSFile = path
	conf.SetDefaults()
	resolver, err := New(conf, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer resolver.Close()

	ecToken := &Input{Headers: bearer(sign(t, keys.ec, testClaims()))}
	if _, err := resolver.Identify(context.Background(), ecToken); err != nil {
		t.Fatalf("Identify(ec) error = %v", err)
	}

	// The issuer rotates to a new key. Within MinRefreshInterval of the
	// initial load the unknown kid does not trigger a fetch.
	writeJWKS(t, path, keys.rsa)
	rsaToken := &Input{Headers: bearer(sign(t, keys.rsa, testClaims()))}
	if _, err := resolver.Identify(context.Background(), rsaToken); err == nil || !strings.Contains(err.Error(), "unknown key id") {
		t.Fatalf("Identify(rsa) right after load error = %v, want unknown key id", err)
	}

	now = now.Add(DefaultMinRefreshInterval)
	if _, err := resolver.Identify(context.Background(), rsaToken); err != nil {
		t.Fatalf("Identify(rsa) after rotation error = %v", err)
	}
	// The key change purged the cache, so the old key's tokens are
	// verified again and fail.
	if _, err := resolver.Identify(context.Background(), ecToken); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("Identify(ec) after rotation error = %v, want ErrUnauthenticated", err)
	}
}

func TestJWKSOverHTTPS(t *testing.T) {
	keys := loadTestKeys(t)
	var requests atomic.Int32
	raw, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{keys.rsa.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	server := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Path != "/v3/jwks" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(raw)
	}))
	defer server.Close()

	conf := Config{Sources: []string{SourceJWT}}
	conf.JWT.JWKSURL = server.URL + "/v3/jwks"
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	resolver, err := New(conf, WithClock(func() time.Time { return testNow }), WithHTTPClient(server.Client()))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	defer resolver.Close()

	got, err := resolver.Identify(context.Background(), &Input{Headers: bearer(sign(t, keys.rsa, testClaims()))})
	if err != nil {
		t.Fatalf("Identify() error = %v", err)
	}
	if got.UserID != "u-0001" {
		t.Errorf("Identify() user = %q, want u-0001", got.UserID)
	}
	if got := requests.Load(); got != 1 {
		t.Errorf("JWKS requests = %d, want 1", got)
	}

	conf.JWT.JWKSURL = server.URL + "/missing"
	if _, err := New(conf, WithHTTPClient(server.Client())); err == nil || !strings.Contains(err.Error(), "HTTP status 404") {
		t.Errorf("New(missing JWKS) error = %v, want HTTP status 404", err)
	}
	conf.JWT.JWKSURL = server.URL + "/v3/jwks"
	if _, err := New(conf); err == nil || !strings.Contains(err.Error(), "failed to fetch JWKS") {
		t.Errorf("New(untrusted certificate) error = %v, want a fetch failure", err)
	}
}

func TestParseJWKS(t *testing.T) {
	keys := loadTestKeys(t)
	public, err := json.Marshal(keys.rsa.Public())
	if err != nil {
		t.Fatal(err)
	}
	private, err := json.Marshal(keys.ec)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		raw     string
		keys    int
		skipped int
		errText string
	}{
		{name: "one public key", raw: `{"keys":[` + string(public) + `]}`, keys: 1},
		{name: "private key skipped", raw: `{"keys":[` + string(public) + `,` + string(private) + `]}`, keys: 1, skipped: 1},
		{name: "symmetric key only", raw: `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`, skipped: 1, errText: "no usable public signature key"},
		{name: "encryption key only", raw: `{"keys":[` + strings.Replace(string(public), `"use":"sig"`, `"use":"enc"`, 1) + `]}`, skipped: 1, errText: "no usable"},
		{name: "not json", raw: `<html>`, errText: "invalid character"},
		{name: "empty", raw: `{"keys":[]}`, errText: "no usable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, skipped, err := parseJWKS([]byte(tt.raw))
			if len(skipped) != tt.skipped {
				t.Errorf("parseJWKS() skipped = %q, want %d entries", skipped, tt.skipped)
			}
			if tt.errText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("parseJWKS() error = %v, want %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseJWKS() error = %v", err)
			}
			if len(set.Keys) != tt.keys {
				t.Errorf("parseJWKS() keys = %d, want %d", len(set.Keys), tt.keys)
			}
		})
	}
}

func TestJWKSBackgroundRefresh(t *testing.T) {
	keys := loadTestKeys(t)
	path := writeJWKS(t, "", keys.ec)
	conf := Config{Sources: []string{SourceJWT}}
	conf.JWT.JWKSFile = path
	conf.JWT.RefreshInterval = 10 * time.Millisecond
	// With the fixed clock an unknown kid never triggers a fetch, so only
	// the background refresh can pick up the new key.
	conf.JWT.MinRefreshInterval = time.Hour
	conf.SetDefaults()
	resolver, err := New(conf, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatal(err)
	}
	defer resolver.Close()

	writeJWKS(t, path, keys.rsa)
	input := &Input{Headers: bearer(sign(t, keys.rsa, testClaims()))}
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := resolver.Identify(context.Background(), input)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Identify() still fails 5s after the JWKS file changed: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}

	resolver.Close()
	resolver.Close()
}

func TestRejectedTokenCache(t *testing.T) {
	keys := loadTestKeys(t)
	resolver := newTestResolver(t, Config{Sources: []string{SourceJWT}}, keys.rsa)
	notYetValid := testClaims()
	notYetValid["nbf"] = testNow.Add(time.Hour).Unix()
	tests := []struct {
		name   string
		token  string
		cached bool
	}{
		{name: "bad signature", token: sign(t, keys.rsaOther, testClaims()), cached: true},
		{name: "garbage", token: "a.b.c", cached: true},
		{name: "not yet valid", token: sign(t, keys.rsa, notYetValid), cached: false},
		{name: "unknown kid", token: sign(t, keys.ec, testClaims()), cached: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := &Input{Headers: bearer(tt.token)}
			first, err := resolver.Identify(context.Background(), input)
			if !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("first Identify() = %+v, %v, want ErrUnauthenticated", first, err)
			}
			_, cached := resolver.rejected.get(hashToken(tt.token), testNow.Unix())
			if cached != tt.cached {
				t.Fatalf("rejection cached = %v, want %v", cached, tt.cached)
			}
			_, again := resolver.Identify(context.Background(), input)
			if again == nil || again.Error() != err.Error() {
				t.Errorf("second Identify() error = %v, want the same error %v", again, err)
			}
		})
	}

	resolver.purgeCaches()
	if got := resolver.rejected.len(); got != 0 {
		t.Errorf("rejected cache length after purge = %d, want 0", got)
	}
}
