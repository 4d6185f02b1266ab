package identity

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

var alice = evaluator.Principal{
	UserID:      "u-0001",
	UserName:    "admin-alice",
	DomainID:    ExampleDomainID,
	DomainName:  ExampleDomainName,
	ProjectID:   ExampleProjectID,
	ProjectName: ExampleProjectName,
	MFAAge:      -1,
}

func TestIdentifyJWT(t *testing.T) {
	keys := loadTestKeys(t)
	resolver := newTestResolver(t, Config{Sources: []string{SourceJWT}}, keys.rsa, keys.ec, keys.ed)

	with := func(change func(map[string]any)) map[string]any {
		claims := testClaims()
		change(claims)
		return claims
	}
	aliceES := alice
	aliceMFA := alice
	aliceMFA.MFAPresent = true
	aliceMFA.MFAAge = 600

	tests := []struct {
		name    string
		headers testHeaders
		path    string
		want    evaluator.Principal
		wantErr error
		errText string
	}{
		{name: "rs256 valid", headers: bearer(sign(t, keys.rsa, testClaims())), want: alice},
		{name: "es256 valid", headers: bearer(sign(t, keys.ec, testClaims())), want: aliceES},
		{name: "eddsa valid", headers: bearer(sign(t, keys.ed, testClaims())), want: alice},
		{name: "lower-case scheme", headers: testHeaders{"authorization": {"bearer " + sign(t, keys.rsa, testClaims())}}, want: alice},
		{name: "path project matches", headers: bearer(sign(t, keys.rsa, testClaims())), path: ExampleProjectID, want: alice},
		{
			name: "mfa with auth time",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) {
				c["amr"] = []string{"pwd", "mfa"}
				c["auth_time"] = testNow.Add(-10 * time.Minute).Unix()
			}))),
			want: aliceMFA,
		},
		{
			name:    "expired within skew",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["exp"] = testNow.Add(-30 * time.Second).Unix() }))),
			want:    alice,
		},
		{
			name:    "expired",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["exp"] = testNow.Add(-2 * time.Minute).Unix() }))),
			wantErr: ErrUnauthenticated, errText: "token expired at",
		},
		{
			name:    "not yet valid",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["nbf"] = testNow.Add(5 * time.Minute).Unix() }))),
			wantErr: ErrUnauthenticated, errText: "token not valid yet: not before 2026-12-04T12:05:00Z",
		},
		{
			name:    "issued in future",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["iat"] = testNow.Add(5 * time.Minute).Unix() }))),
			wantErr: ErrUnauthenticated, errText: "issued in the future",
		},
		{
			name:    "missing exp",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { delete(c, "exp") }))),
			wantErr: ErrUnauthenticated, errText: "no exp claim",
		},
		{
			name:    "wrong issuer",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["iss"] = "https://evil.example.invalid" }))),
			wantErr: ErrUnauthenticated, errText: "invalid issuer",
		},
		{
			name:    "wrong audience",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["aud"] = []string{"evs", "obs"} }))),
			wantErr: ErrUnauthenticated, errText: "invalid audience",
		},
		{
			name:    "missing subject",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { delete(c, "sub") }))),
			wantErr: ErrUnauthenticated, errText: `missing claim "sub"`,
		},
		{
			name:    "domain claim not string",
			headers: bearer(sign(t, keys.rsa, with(func(c map[string]any) { c["domain_id"] = 7 }))),
			wantErr: ErrUnauthenticated, errText: `claim "domain_id" is float64`,
		},
		{
			name:    "bad signature",
			headers: bearer(sign(t, keys.rsaOther, testClaims())),
			wantErr: ErrUnauthenticated, errText: "signature verification failed",
		},
		{
			name:    "tampered payload",
			headers: bearer(tamper(sign(t, keys.rsa, testClaims()))),
			wantErr: ErrUnauthenticated, errText: "signature verification failed",
		},
		{
			name:    "alg none",
			headers: bearer(handMade(t, map[string]any{"alg": "none", "kid": "rsa-1"}, testClaims(), func([]byte) []byte { return nil })),
			wantErr: ErrUnauthenticated, errText: "malformed token",
		},
		{
			name:    "hs256 with public key",
			headers: bearer(handMade(t, map[string]any{"alg": "HS256", "kid": "rsa-1", "typ": "JWT"}, testClaims(), hmacWithPublicKey(keys.rsa))),
			wantErr: ErrUnauthenticated, errText: "malformed token",
		},
		{
			name:    "alg differs from key alg",
			headers: bearer(handMade(t, map[string]any{"alg": "ES256", "kid": "rsa-1"}, testClaims(), rsaSign(keys.rsa))),
			wantErr: ErrUnauthenticated, errText: "signature verification failed",
		},
		{
			name:    "unknown kid",
			headers: bearer(handMade(t, map[string]any{"alg": "RS256", "kid": "rotated-away"}, testClaims(), rsaSign(keys.rsa))),
			wantErr: ErrUnauthenticated, errText: `unknown key id "rotated-away"`,
		},
		{
			name:    "no kid tries every key",
			headers: bearer(handMade(t, map[string]any{"alg": "RS256"}, testClaims(), rsaSign(keys.rsa))),
			want:    alice,
		},
		{
			name:    "garbage token",
			headers: bearer("not.a.jwt"),
			wantErr: ErrUnauthenticated, errText: "malformed token",
		},
		{
			name:    "oversized token",
			headers: bearer(strings.Repeat("a", DefaultMaxTokenBytes+1)),
			wantErr: ErrUnauthenticated, errText: "exceeds 16384 bytes",
		},
		{
			name:    "basic scheme",
			headers: testHeaders{"authorization": {"Basic dXNlcjpwYXNz"}},
			wantErr: ErrUnauthenticated, errText: "unsupported authorization scheme",
		},
		{
			name:    "empty bearer",
			headers: testHeaders{"authorization": {"Bearer "}},
			wantErr: ErrUnauthenticated, errText: "empty token",
		},
		{
			name:    "duplicate header",
			headers: testHeaders{"authorization": {"Bearer " + sign(t, keys.rsa, testClaims()), "Bearer x"}},
			wantErr: ErrUnauthenticated, errText: "ambiguous credential: 2 values of header authorization",
		},
		{
			name:    "comma-joined header",
			headers: testHeaders{"authorization": {"Bearer " + sign(t, keys.rsa, testClaims()) + ",Bearer x"}},
			wantErr: ErrUnauthenticated, errText: "ambiguous credential",
		},
		{
			name:    "project mismatch",
			headers: bearer(sign(t, keys.rsa, testClaims())),
			path:    "1b2c3d4e5f60718293a4b5c6d7e8f90a",
			wantErr: ErrProjectMismatch, errText: `token project "0a1b2c3d4e5f60718293a4b5c6d7e8f9", path project "1b2c3d4e5f60718293a4b5c6d7e8f90a"`,
		},
		{
			name:    "no credential",
			headers: testHeaders{"accept": {"application/json"}},
			wantErr: ErrUnauthenticated, errText: "no credential for sources jwt",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolver.Identify(context.Background(), &Input{Headers: tt.headers, PathProjectID: tt.path})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Identify() error = %v, want %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Identify() error = %q, want it to contain %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Identify() principal (-want +got):\n%s", diff)
			}
		})
	}
}

// tamper changes the payload of a compact JWS without re-signing it.
func tamper(token string) string {
	parts := strings.Split(token, ".")
	payload := []byte(parts[1])
	if payload[5] == 'A' {
		payload[5] = 'B'
	} else {
		payload[5] = 'A'
	}
	parts[1] = string(payload)
	return strings.Join(parts, ".")
}

func TestIdentifyCustomHeader(t *testing.T) {
	keys := loadTestKeys(t)
	conf := Config{Sources: []string{SourceJWT}}
	conf.JWT.Headers = []string{"x-auth-token", "authorization"}
	resolver := newTestResolver(t, conf, keys.rsa)
	token := sign(t, keys.rsa, testClaims())

	got, err := resolver.Identify(context.Background(), &Input{Headers: testHeaders{"x-auth-token": {token}}})
	if err != nil {
		t.Fatalf("Identify(x-auth-token) error = %v", err)
	}
	if got.UserID != "u-0001" {
		t.Errorf("Identify(x-auth-token) user = %q, want u-0001", got.UserID)
	}

	both := testHeaders{"x-auth-token": {token}, "authorization": {"Bearer " + token}}
	_, err = resolver.Identify(context.Background(), &Input{Headers: both})
	if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "headers x-auth-token and authorization both carry a token") {
		t.Errorf("Identify(two headers) error = %v, want an ambiguous credential", err)
	}
}

func TestIdentifyJWTAuthn(t *testing.T) {
	payload := func(fields map[string]any) *structpb.Struct {
		inner, err := structpb.NewStruct(fields)
		if err != nil {
			t.Fatal(err)
		}
		return &structpb.Struct{Fields: map[string]*structpb.Value{"jwt_payload": structpb.NewStructValue(inner)}}
	}
	viewer := map[string]any{
		"iss": DefaultIssuer, "sub": "u-0002", "aud": "ecs", "exp": 1893456000,
		"domain_id": ExampleDomainID, "project_id": ExampleProjectID, "name": "viewer",
	}
	conf := Config{Sources: []string{SourceJWTAuthn}}
	conf.JWTAuthn.Issuer = DefaultIssuer
	resolver := newTestResolver(t, conf)

	tests := []struct {
		name     string
		metadata *structpb.Struct
		want     evaluator.Principal
		errText  string
	}{
		{
			name:     "viewer",
			metadata: payload(viewer),
			want: evaluator.Principal{UserID: "u-0002", UserName: "viewer", DomainID: ExampleDomainID,
				ProjectID: ExampleProjectID, MFAAge: -1},
		},
		{name: "no metadata", metadata: nil, errText: "no credential"},
		{name: "other payload key", metadata: &structpb.Struct{Fields: map[string]*structpb.Value{"other": structpb.NewStringValue("x")}}, errText: "no credential"},
		{name: "wrong issuer", metadata: payload(map[string]any{"iss": "https://other", "sub": "u-0002", "domain_id": "d"}), errText: `invalid issuer "https://other"`},
		{name: "missing domain", metadata: payload(map[string]any{"iss": DefaultIssuer, "sub": "u-0002"}), errText: `missing claim "domain_id"`},
		{name: "sub not string", metadata: payload(map[string]any{"iss": DefaultIssuer, "sub": 5, "domain_id": "d"}), errText: `claim "sub" is not a string`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolver.Identify(context.Background(), &Input{JWTAuthn: tt.metadata})
			if tt.errText != "" {
				if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Identify() error = %v, want ErrUnauthenticated containing %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify() error = %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Identify() principal (-want +got):\n%s", diff)
			}
		})
	}
}

func TestIdentifyMTLSAndHeader(t *testing.T) {
	conf := Config{Sources: []string{SourceMTLS, SourceHeader}}
	conf.MTLS.Principals = map[string]MTLSPrincipal{
		"spiffe://example.invalid/ns/console/sa/console": {UserID: "u-0002", UserName: "viewer", DomainID: ExampleDomainID},
	}
	conf.Header = HeaderConfig{Enabled: true, UserIDHeader: "x-trusted-user-id", DomainIDHeader: "x-trusted-domain-id"}
	resolver := newTestResolver(t, conf)

	tests := []struct {
		name      string
		principal string
		headers   testHeaders
		wantUser  string
		errText   string
	}{
		{name: "mapped spiffe id", principal: "spiffe://example.invalid/ns/console/sa/console", wantUser: "u-0002"},
		{
			name:      "unmapped id falls through",
			principal: "spiffe://example.invalid/ns/other/sa/other",
			headers:   testHeaders{"x-trusted-user-id": {"u-0004"}, "x-trusted-domain-id": {ExampleDomainID}},
			wantUser:  "u-0004",
		},
		{name: "trusted headers", headers: testHeaders{"x-trusted-user-id": {"u-0003"}, "x-trusted-domain-id": {ExampleDomainID}}, wantUser: "u-0003"},
		{name: "trusted header twice", headers: testHeaders{"x-trusted-user-id": {"u-0003", "u-0000"}, "x-trusted-domain-id": {ExampleDomainID}}, errText: "ambiguous credential"},
		{name: "trusted domain missing", headers: testHeaders{"x-trusted-user-id": {"u-0003"}}, errText: "missing header x-trusted-domain-id"},
		{name: "nothing", errText: "no credential for sources mtls, header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolver.Identify(context.Background(), &Input{SourcePrincipal: tt.principal, Headers: tt.headers})
			if tt.errText != "" {
				if !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), tt.errText) {
					t.Fatalf("Identify() error = %v, want ErrUnauthenticated containing %q", err, tt.errText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Identify() error = %v", err)
			}
			if got.UserID != tt.wantUser || got.DomainID != ExampleDomainID {
				t.Errorf("Identify() = %+v, want user %s in domain %s", got, tt.wantUser, ExampleDomainID)
			}
		})
	}
}

func TestIdentifyFirstCredentialDecides(t *testing.T) {
	keys := loadTestKeys(t)
	resolver := newTestResolver(t, Config{Sources: []string{SourceJWT, SourceJWTAuthn}}, keys.rsa)
	inner, err := structpb.NewStruct(map[string]any{"sub": "u-0000", "domain_id": ExampleDomainID})
	if err != nil {
		t.Fatal(err)
	}
	metadata := &structpb.Struct{Fields: map[string]*structpb.Value{"jwt_payload": structpb.NewStructValue(inner)}}

	_, err = resolver.Identify(context.Background(), &Input{Headers: bearer(sign(t, keys.rsaOther, testClaims())), JWTAuthn: metadata})
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("Identify(bad token + metadata) error = %v, want ErrUnauthenticated", err)
	}
	got, err := resolver.Identify(context.Background(), &Input{Headers: testHeaders{}, JWTAuthn: metadata})
	if err != nil || got.UserID != "u-0000" {
		t.Fatalf("Identify(metadata only) = %+v, %v, want u-0000", got, err)
	}
}
