package identity

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzIdentifyToken feeds arbitrary Authorization values through bearer
// parsing, JWS parsing, verification and claim mapping. Every input must
// either identify the caller or fail with ErrUnauthenticated or
// ErrProjectMismatch, never panic. Run it with
//
//	go test ./identity -run '^$' -fuzz FuzzIdentifyToken -fuzztime 30s
func FuzzIdentifyToken(f *testing.F) {
	keys := loadTestKeys(f)
	resolver := newTestResolver(f, Config{Sources: []string{SourceJWT}}, keys.rsa, keys.ec)
	f.Add("Bearer " + sign(f, keys.rsa, testClaims()))
	f.Add("Bearer " + sign(f, keys.ec, testClaims()))
	f.Add("Bearer " + handMade(f, map[string]any{"alg": "none"}, testClaims(), func([]byte) []byte { return nil }))
	f.Add("Bearer a.b.c")
	f.Add("Bearer ..")
	f.Add("bearer eyJhbGciOiJSUzI1NiJ9.e30.")
	f.Add("Basic x")

	f.Fuzz(func(t *testing.T, authorization string) {
		_, err := resolver.Identify(context.Background(), &Input{
			Headers:       testHeaders{"authorization": {authorization}},
			PathProjectID: ExampleProjectID,
		})
		if err != nil && !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrProjectMismatch) {
			t.Fatalf("Identify() error = %v, want a sentinel", err)
		}
	})
}

// FuzzClaimMapping maps arbitrary JSON payloads to principals. Run it with
//
//	go test ./identity -run '^$' -fuzz FuzzClaimMapping -fuzztime 30s
func FuzzClaimMapping(f *testing.F) {
	seed, err := json.Marshal(testClaims())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"sub":"u","domain_id":"d","amr":"mfa","auth_time":1e300}`))
	f.Add([]byte(`{"sub":"u","domain_id":"d","amr":[1,null,"mfa"],"auth_time":-1}`))
	f.Add([]byte(`{"sub":null,"domain_id":{}}`))

	var mapping ClaimMapping
	mapping.setDefaults()
	f.Fuzz(func(t *testing.T, payload []byte) {
		var claims mapClaims
		if json.Unmarshal(payload, &claims) != nil {
			return
		}
		identity, err := identityFromClaims(claims, &mapping)
		if err != nil {
			return
		}
		if identity.principal.UserID == "" || identity.principal.DomainID == "" {
			t.Fatalf("identityFromClaims(%s) accepted a principal without user or domain: %+v", payload, identity.principal)
		}
		if principal := identity.principalAt(testNow.Unix()); principal.MFAAge < -1 {
			t.Fatalf("principalAt() MFAAge = %d", principal.MFAAge)
		}
	})
}

// BenchmarkIdentifyCachedToken measures a request whose token is already
// in the cache: header lookup, SHA-256 of the token and an LRU hit.
func BenchmarkIdentifyCachedToken(b *testing.B) {
	keys := loadTestKeys(b)
	resolver := newTestResolver(b, Config{Sources: []string{SourceJWT}}, keys.rsa)
	input := &Input{Headers: bearer(sign(b, keys.rsa, testClaims())), PathProjectID: ExampleProjectID}
	ctx := context.Background()
	if _, err := resolver.Identify(ctx, input); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	for b.Loop() {
		if _, err := resolver.Identify(ctx, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdentifyUncachedToken measures a full RS256 verification, the
// cost of the first request with each token.
func BenchmarkIdentifyUncachedToken(b *testing.B) {
	keys := loadTestKeys(b)
	resolver := newTestResolver(b, Config{Sources: []string{SourceJWT}}, keys.rsa)
	resolver.cache = newTokenCache(0)
	input := &Input{Headers: bearer(sign(b, keys.rsa, testClaims()))}
	ctx := context.Background()

	b.ReportAllocs()
	for b.Loop() {
		if _, err := resolver.Identify(ctx, input); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdentifyCachedTokenParallel measures cache hits from every
// core at once, where the cache mutex is contended.
func BenchmarkIdentifyCachedTokenParallel(b *testing.B) {
	keys := loadTestKeys(b)
	resolver := newTestResolver(b, Config{Sources: []string{SourceJWT}}, keys.rsa)
	input := &Input{Headers: bearer(sign(b, keys.rsa, testClaims())), PathProjectID: ExampleProjectID}
	ctx := context.Background()
	if _, err := resolver.Identify(ctx, input); err != nil {
		b.Fatal(err)
	}

	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := resolver.Identify(ctx, input); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
