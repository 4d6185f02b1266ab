package identity

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// exampleKeyDir holds the published example key pair.
var exampleKeyDir = filepath.Join("..", "examples", "jwks")

func TestMintExampleTokenVerifies(t *testing.T) {
	privateJWK, err := os.ReadFile(filepath.Join(exampleKeyDir, "private.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	conf := Config{}
	conf.JWT.JWKSFile = filepath.Join(exampleKeyDir, "jwks.json")
	resolver := newTestResolver(t, conf)

	for _, userID := range ExampleUserIDs() {
		claims, ok := ExampleClaimsFor(userID)
		if !ok {
			t.Fatalf("ExampleClaimsFor(%s) = false", userID)
		}
		token, err := MintExampleToken(privateJWK, claims)
		if err != nil {
			t.Fatalf("MintExampleToken(%s) error = %v", userID, err)
		}
		again, err := MintExampleToken(privateJWK, claims)
		if err != nil || again != token {
			t.Errorf("MintExampleToken(%s) is not reproducible", userID)
		}

		got, err := resolver.Identify(context.Background(), &Input{Headers: bearer(token), PathProjectID: ExampleProjectID})
		if err != nil {
			t.Fatalf("Identify(%s) error = %v", userID, err)
		}
		if got.UserID != userID || got.DomainID != ExampleDomainID || got.ProjectID != ExampleProjectID {
			t.Errorf("Identify(%s) = %+v", userID, got)
		}
	}
}

func TestMintExampleTokenOptions(t *testing.T) {
	privateJWK, err := os.ReadFile(filepath.Join(exampleKeyDir, "private.jwk.json"))
	if err != nil {
		t.Fatal(err)
	}
	conf := Config{}
	conf.JWT.JWKSFile = filepath.Join(exampleKeyDir, "jwks.json")
	resolver := newTestResolver(t, conf)

	claims, _ := ExampleClaimsFor("u-0003")
	claims.MFA = true
	claims.AuthTime = testNow.Add(-2 * time.Minute)
	token, err := MintExampleToken(privateJWK, claims)
	if err != nil {
		t.Fatal(err)
	}
	got, err := resolver.Identify(context.Background(), &Input{Headers: bearer(token)})
	if err != nil {
		t.Fatalf("Identify() error = %v", err)
	}
	if !got.MFAPresent || got.MFAAge != 120 {
		t.Errorf("Identify() MFA = %v age %d, want true age 120", got.MFAPresent, got.MFAAge)
	}

	if _, ok := ExampleClaimsFor("u-9999"); ok {
		t.Error("ExampleClaimsFor(u-9999) = true, want false")
	}
	public, err := os.ReadFile(filepath.Join(exampleKeyDir, "jwks.json"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := MintExampleToken(public, claims); err == nil {
		t.Error("MintExampleToken(JWKS) error = nil, want an invalid private JWK")
	}
}
