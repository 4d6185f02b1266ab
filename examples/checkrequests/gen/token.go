package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/ecsauthz/ecsauthz/identity"
)

// tokenSigner mints example tokens with the example private key.
type tokenSigner struct {
	privateJWK []byte
}

func newTokenSigner(path string) (*tokenSigner, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read example private key: %w", err)
	}
	return &tokenSigner{privateJWK: key}, nil
}

// mint returns the example token of a case's caller. A case with
// tokenProject gets a token for that project, as the account root would
// request it.
func (s *tokenSigner) mint(c checkCase) (string, error) {
	claims, ok := identity.ExampleClaimsFor(c.user)
	if !ok {
		return "", fmt.Errorf("unknown example user %q", c.user)
	}
	if c.tokenProject != "" {
		claims.ProjectID, claims.ProjectName = c.tokenProject, "region-1_other"
	}
	return identity.MintExampleToken(s.privateJWK, claims)
}

// tokenPayload returns the decoded payload of token, the claims Envoy's
// jwt_authn filter stores in metadata after verifying it.
func tokenPayload(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, fmt.Errorf("token has %d parts, want 3", len(parts))
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, fmt.Errorf("failed to decode token payload: %w", err)
	}
	var payload map[string]any
	if err := json.Unmarshal(data, &payload); err != nil {
		return nil, fmt.Errorf("failed to parse token payload: %w", err)
	}
	return payload, nil
}
