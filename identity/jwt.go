package identity

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Reasons a bearer token is rejected. They are wrapped in
// ErrUnauthenticated with the header name.
var (
	errAmbiguousCredential = errors.New("ambiguous credential")
	errUnsupportedScheme   = errors.New("unsupported authorization scheme; use Bearer")
	errMalformedToken      = errors.New("malformed token")
	errUnknownKey          = errors.New("unknown key id")
	errBadSignature        = errors.New("signature verification failed")
	// errNotYetValid marks a token that a later request may accept, so its
	// rejection is not cached.
	errNotYetValid = errors.New("token not valid yet")
)

// bearerToken finds the token in the configured headers. found is false when
// none of them is present. Two occurrences of one header, a comma inside a
// value (Envoy joins repeated headers with a comma) or tokens in two headers
// are ambiguous and rejected.
func bearerToken(headers Headers, names []string) (token, header string, found bool, err error) {
	for _, name := range names {
		value, count := headers.Header(name)
		if count == 0 {
			continue
		}
		if count > 1 || strings.IndexByte(value, ',') >= 0 {
			return "", name, true, fmt.Errorf("%w: %d values of header %s", errAmbiguousCredential, max(count, 2), name)
		}
		if found {
			return "", name, true, fmt.Errorf("%w: headers %s and %s both carry a token", errAmbiguousCredential, header, name)
		}
		token, header, found = value, name, true
	}
	if !found {
		return "", "", false, nil
	}

	if header == DefaultAuthorization {
		scheme, rest, _ := strings.Cut(token, " ")
		if !strings.EqualFold(scheme, "Bearer") {
			return "", header, true, errUnsupportedScheme
		}
		token = rest
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return "", header, true, fmt.Errorf("%w: empty token", errMalformedToken)
	}
	return token, header, true, nil
}

// verifyToken checks the signature and the registered claims of token and
// maps its claims. It is the slow path behind the token cache.
func (r *Resolver) verifyToken(ctx context.Context, token string) (tokenIdentity, int64, error) {
	conf := &r.conf.JWT
	if len(token) > conf.MaxTokenBytes {
		return tokenIdentity{}, 0, fmt.Errorf("%w: token exceeds %d bytes", errMalformedToken, conf.MaxTokenBytes)
	}
	// ParseSigned rejects any alg outside the allowed list, including none
	// and HMAC, so an RSA public key can never serve as an HMAC secret.
	parsed, err := jwt.ParseSigned(token, r.algorithms)
	if err != nil {
		return tokenIdentity{}, 0, fmt.Errorf("%w: %v", errMalformedToken, err)
	}
	if len(parsed.Headers) != 1 {
		return tokenIdentity{}, 0, fmt.Errorf("%w: %d signatures", errMalformedToken, len(parsed.Headers))
	}
	header := parsed.Headers[0]

	var registered jwt.Claims
	claims := mapClaims{}
	if err := r.verifySignature(ctx, parsed, header, &registered, &claims); err != nil {
		return tokenIdentity{}, 0, err
	}

	if registered.Expiry == nil {
		return tokenIdentity{}, 0, errors.New("token has no exp claim")
	}
	expected := jwt.Expected{Issuer: conf.Issuer, AnyAudience: jwt.Audience{conf.Audience}, Time: r.now()}
	if err := registered.ValidateWithLeeway(expected, conf.ClockSkew); err != nil {
		return tokenIdentity{}, 0, describeClaimError(err, &registered)
	}

	identity, err := identityFromClaims(claims, &r.conf.Claims)
	if err != nil {
		return tokenIdentity{}, 0, err
	}
	expires := registered.Expiry.Time().Add(conf.ClockSkew).Unix()
	return identity, expires, nil
}

// verifySignature verifies parsed against the keys named by its kid, or
// against every key when it has none, and decodes the claims. An unknown
// kid triggers one rate-limited JWKS refresh, because the issuer may have
// rotated its keys.
func (r *Resolver) verifySignature(ctx context.Context, parsed *jwt.JSONWebToken, header jose.Header, dest ...any) error {
	candidates := r.keys.keys(header.KeyID)
	if len(candidates) == 0 && header.KeyID != "" && r.keys.refreshForUnknownKey(ctx, header.KeyID) {
		candidates = r.keys.keys(header.KeyID)
	}
	if len(candidates) == 0 {
		return fmt.Errorf("%w %q", errUnknownKey, header.KeyID)
	}

	for i := range candidates {
		key := &candidates[i]
		// A key that declares its alg is used with that alg only.
		if key.Algorithm != "" && key.Algorithm != header.Algorithm {
			continue
		}
		err := parsed.Claims(key.Key, dest...)
		if err == nil {
			return nil
		}
		// A wrong key or a key of another type is a verification failure,
		// so the next candidate is tried. Any other error comes from
		// decoding claims that carry a valid signature.
		if !errors.Is(err, jose.ErrCryptoFailure) && !errors.Is(err, jose.ErrUnsupportedKeyType) {
			return fmt.Errorf("%w: invalid claims: %v", errMalformedToken, err)
		}
	}
	return fmt.Errorf("%w (kid %q, alg %s)", errBadSignature, header.KeyID, header.Algorithm)
}

func describeClaimError(err error, claims *jwt.Claims) error {
	switch {
	case errors.Is(err, jwt.ErrExpired):
		return fmt.Errorf("token expired at %s", claims.Expiry.Time().UTC().Format("2006-01-02T15:04:05Z"))
	case errors.Is(err, jwt.ErrNotValidYet):
		return fmt.Errorf("%w: not before %s", errNotYetValid, claims.NotBefore.Time().UTC().Format("2006-01-02T15:04:05Z"))
	case errors.Is(err, jwt.ErrIssuedInTheFuture):
		return fmt.Errorf("%w: issued in the future (iat)", errNotYetValid)
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return fmt.Errorf("invalid issuer %q", claims.Issuer)
	case errors.Is(err, jwt.ErrInvalidAudience):
		return fmt.Errorf("invalid audience %q", []string(claims.Audience))
	}
	return err
}
