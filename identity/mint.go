package identity

import (
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Fixed identifiers and times of the example tokens. The times are fixed so
// that minting is reproducible: RS256 signatures are deterministic, so the
// same claims always give the same token.
const (
	ExampleDomainID    = "d0000000000000000000000000000001"
	ExampleDomainName  = "example-domain"
	ExampleProjectID   = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	ExampleProjectName = "region-1"
)

var (
	exampleIssuedAt = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	exampleExpiry   = time.Date(2036, 1, 1, 0, 0, 0, 0, time.UTC)
)

// ExampleClaims are the claims of one example token, in the default claim
// mapping.
type ExampleClaims struct {
	Issuer      string
	Audience    string
	UserID      string
	UserName    string
	DomainID    string
	DomainName  string
	ProjectID   string
	ProjectName string
	// MFA adds "mfa" to the amr claim.
	MFA      bool
	AuthTime time.Time
	IssuedAt time.Time
	// NotBefore is omitted from the token when zero.
	NotBefore time.Time
	Expiry    time.Time
}

// exampleUsers are the users of the example policy store, by id.
var exampleUsers = []struct{ id, name string }{
	{"u-0000", "domain-admin"},
	{"u-0001", "admin-alice"},
	{"u-0002", "viewer"},
	{"u-0003", "operator-bob"},
	{"u-0004", "ep-dev-carol"},
	{"u-0005", "no-grants-dave"},
}

// ExampleUserIDs returns the ids of the example users, in order.
func ExampleUserIDs() []string {
	ids := make([]string, len(exampleUsers))
	for i, user := range exampleUsers {
		ids[i] = user.id
	}
	return ids
}

// ExampleClaimsFor returns the claims of the example token for userID: the
// example domain and project, the default issuer and audience, issued on
// 2026-01-01 and valid until 2036-01-01. It returns false for an unknown
// user id.
func ExampleClaimsFor(userID string) (ExampleClaims, bool) {
	for _, user := range exampleUsers {
		if user.id != userID {
			continue
		}
		return ExampleClaims{
			Issuer:      DefaultIssuer,
			Audience:    DefaultAudience,
			UserID:      user.id,
			UserName:    user.name,
			DomainID:    ExampleDomainID,
			DomainName:  ExampleDomainName,
			ProjectID:   ExampleProjectID,
			ProjectName: ExampleProjectName,
			AuthTime:    exampleIssuedAt,
			IssuedAt:    exampleIssuedAt,
			Expiry:      exampleExpiry,
		}, true
	}
	return ExampleClaims{}, false
}

// exampleTokenClaims is the JSON payload of an example token.
type exampleTokenClaims struct {
	jwt.Claims
	Name        string   `json:"name,omitempty"`
	DomainID    string   `json:"domain_id,omitempty"`
	DomainName  string   `json:"domain_name,omitempty"`
	ProjectID   string   `json:"project_id,omitempty"`
	ProjectName string   `json:"project_name,omitempty"`
	AMR         []string `json:"amr,omitempty"`
	AuthTime    int64    `json:"auth_time,omitempty"`
}

// MintExampleToken signs claims with privateJWK, a private key in JWK form
// such as examples/jwks/private.jwk.json. The token's kid is the key's kid
// and its alg the key's alg, RS256 when the key names none. It is meant for
// examples and tests: production tokens come from the identity provider.
func MintExampleToken(privateJWK []byte, claims ExampleClaims) (string, error) {
	var key jose.JSONWebKey
	if err := key.UnmarshalJSON(privateJWK); err != nil {
		return "", fmt.Errorf("invalid private JWK: %w", err)
	}
	if key.IsPublic() || !key.Valid() {
		return "", errors.New("invalid private JWK: not a private signing key")
	}
	alg := jose.SignatureAlgorithm(key.Algorithm)
	if alg == "" {
		alg = jose.RS256
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: &key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("failed to create signer: %w", err)
	}

	payload := exampleTokenClaims{
		Claims: jwt.Claims{
			Issuer:   claims.Issuer,
			Subject:  claims.UserID,
			Audience: jwt.Audience{claims.Audience},
			IssuedAt: numericDate(claims.IssuedAt),
			Expiry:   numericDate(claims.Expiry),
		},
		Name:        claims.UserName,
		DomainID:    claims.DomainID,
		DomainName:  claims.DomainName,
		ProjectID:   claims.ProjectID,
		ProjectName: claims.ProjectName,
		AMR:         []string{"pwd"},
	}
	payload.NotBefore = numericDate(claims.NotBefore)
	if claims.MFA {
		payload.AMR = append(payload.AMR, defaultMFAMethodValue)
	}
	if !claims.AuthTime.IsZero() {
		payload.AuthTime = claims.AuthTime.Unix()
	}
	token, err := jwt.Signed(signer).Claims(payload).Serialize()
	if err != nil {
		return "", fmt.Errorf("failed to sign token: %w", err)
	}
	return token, nil
}

func numericDate(t time.Time) *jwt.NumericDate {
	if t.IsZero() {
		return nil
	}
	return jwt.NewNumericDate(t)
}
