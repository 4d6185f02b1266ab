package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

// testHeaders is a header set where each name maps to its occurrences.
type testHeaders map[string][]string

func (h testHeaders) Header(name string) (string, int) {
	values := h[name]
	return strings.Join(values, ","), len(values)
}

func bearer(token string) testHeaders {
	return testHeaders{"authorization": {"Bearer " + token}}
}

// testKeys are signing keys shared by the tests of this package. Generating
// RSA keys is slow, so they are made once.
type testKeys struct {
	rsa, rsaOther, ec, ed jose.JSONWebKey
}

var (
	keysOnce   sync.Once
	sharedKeys testKeys
)

func loadTestKeys(t testing.TB) testKeys {
	t.Helper()
	keysOnce.Do(func() {
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		rsaOther, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			panic(err)
		}
		_, edKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		sharedKeys = testKeys{
			rsa:      jose.JSONWebKey{Key: rsaKey, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
			rsaOther: jose.JSONWebKey{Key: rsaOther, KeyID: "rsa-1", Algorithm: "RS256", Use: "sig"},
			ec:       jose.JSONWebKey{Key: ecKey, KeyID: "ec-1", Algorithm: "ES256", Use: "sig"},
			ed:       jose.JSONWebKey{Key: edKey, KeyID: "ed-1", Algorithm: "EdDSA", Use: "sig"},
		}
	})
	return sharedKeys
}

// writeJWKS writes the public halves of keys as a JWKS file and returns its
// path.
func writeJWKS(t testing.TB, path string, keys ...jose.JSONWebKey) string {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for _, key := range keys {
		set.Keys = append(set.Keys, key.Public())
	}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	if path == "" {
		path = filepath.Join(t.TempDir(), "jwks.json")
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// testClaims are the claims of a valid token at testNow.
func testClaims() map[string]any {
	return map[string]any{
		"iss":          DefaultIssuer,
		"aud":          DefaultAudience,
		"sub":          "u-0001",
		"name":         "admin-alice",
		"domain_id":    ExampleDomainID,
		"domain_name":  ExampleDomainName,
		"project_id":   ExampleProjectID,
		"project_name": ExampleProjectName,
		"iat":          testNow.Add(-time.Hour).Unix(),
		"exp":          testNow.Add(time.Hour).Unix(),
	}
}

// sign signs claims with key, using the key's alg and kid.
func sign(t testing.TB, key jose.JSONWebKey, claims map[string]any) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Algorithm), Key: &key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	token, err := jwt.Signed(signer).Claims(claims).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// handMade builds a compact JWS from a raw header, raw claims and a
// signature function, for tokens that go-jose refuses to produce.
func handMade(t testing.TB, header map[string]any, claims map[string]any, signature func(input []byte) []byte) string {
	t.Helper()
	encode := func(v any) string {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	input := encode(header) + "." + encode(claims)
	return input + "." + base64.RawURLEncoding.EncodeToString(signature([]byte(input)))
}

// hmacWithPublicKey signs input with HS256, using the public RSA modulus as
// the secret: the algorithm-confusion attack on verifiers that take the key
// type from the token.
func hmacWithPublicKey(key jose.JSONWebKey) func([]byte) []byte {
	public := key.Public().Key.(*rsa.PublicKey)
	secret := public.N.Bytes()
	return func(input []byte) []byte {
		mac := hmac.New(sha256.New, secret)
		mac.Write(input)
		return mac.Sum(nil)
	}
}

// rsaSign signs input with RS256, for hand-made headers.
func rsaSign(key jose.JSONWebKey) func([]byte) []byte {
	return func(input []byte) []byte {
		digest := sha256.Sum256(input)
		signature, err := rsa.SignPKCS1v15(rand.Reader, key.Key.(*rsa.PrivateKey), crypto.SHA256, digest[:])
		if err != nil {
			panic(err)
		}
		return signature
	}
}

// newTestResolver builds a Resolver over conf with defaults, the fixed clock
// and, unless conf names one, a JWKS file with keys.
func newTestResolver(t testing.TB, conf Config, keys ...jose.JSONWebKey) *Resolver {
	t.Helper()
	if conf.JWT.JWKSFile == "" && conf.JWT.JWKSURL == "" {
		conf.JWT.JWKSFile = writeJWKS(t, "", keys...)
	}
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	resolver, err := New(conf, WithClock(func() time.Time { return testNow }))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	t.Cleanup(func() { resolver.Close() })
	return resolver
}
