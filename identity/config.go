package identity

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Source names accepted in [Config.Sources].
const (
	// SourceJWT verifies a bearer JWT from a request header against a JWKS.
	SourceJWT = "jwt"
	// SourceJWTAuthn reads the payload that Envoy's jwt_authn filter verified.
	SourceJWTAuthn = "jwt_authn"
	// SourceMTLS maps the mTLS peer principal (a SPIFFE ID) to a user.
	SourceMTLS = "mtls"
	// SourceHeader trusts identity headers set by a proxy in front of Envoy.
	SourceHeader = "header"
)

// Defaults of [Config]. The issuer, audience and JWKS path are those of the
// example tokens in examples/jwks, so a deployment must set its own.
const (
	DefaultIssuer          = "https://iam.example.invalid/v3"
	DefaultAudience        = "ecs"
	DefaultJWKSFile        = "examples/jwks/jwks.json"
	DefaultRefreshInterval = 5 * time.Minute
	// DefaultMinRefreshInterval limits how often a token with an unknown
	// key id can trigger a JWKS fetch.
	DefaultMinRefreshInterval = 30 * time.Second
	DefaultFetchTimeout       = 5 * time.Second
	DefaultClockSkew          = 60 * time.Second
	DefaultCacheSize          = 10000
	// DefaultMaxTokenBytes leaves room for large claim sets and stays below
	// Envoy's 60 KiB default request-header limit.
	DefaultMaxTokenBytes  = 16 << 10
	DefaultJWTAuthnKey    = "jwt_payload"
	DefaultAuthorization  = "authorization"
	maxJWKSResponseBytes  = 1 << 20
	defaultMFAMethodValue = "mfa"
)

// DefaultAlgorithms are the signature algorithms accepted by default. HMAC
// algorithms are not supported, because a JWKS publishes public keys only.
var DefaultAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Config configures the [Resolver].
type Config struct {
	// Sources lists the identity sources in the order they are tried: jwt,
	// jwt_authn, mtls, header. The first source that finds a credential
	// decides. Default [jwt, jwt_authn].
	Sources []string `yaml:"sources" json:"sources"`
	// JWT configures the jwt source.
	JWT JWTConfig `yaml:"jwt" json:"jwt"`
	// JWTAuthn configures the jwt_authn source.
	JWTAuthn JWTAuthnConfig `yaml:"jwt_authn" json:"jwt_authn"`
	// MTLS configures the mtls source.
	MTLS MTLSConfig `yaml:"mtls" json:"mtls"`
	// Header configures the header source.
	Header HeaderConfig `yaml:"header" json:"header"`
	// Claims maps token claims to principal fields, for jwt and jwt_authn.
	Claims ClaimMapping `yaml:"claims" json:"claims"`
}

// JWTConfig configures local verification of bearer JWTs.
type JWTConfig struct {
	// Headers are the request headers that carry the token, lower case.
	// "authorization" expects "Bearer <token>", any other header the bare
	// token (for example x-auth-token). Default [authorization].
	Headers []string `yaml:"headers" json:"headers"`
	// JWKSFile is the path of a JWKS file. Default examples/jwks/jwks.json
	// unless JWKSURL is set.
	JWKSFile string `yaml:"jwks_file" json:"jwks_file"`
	// JWKSURL is an https URL serving the JWKS. Exclusive with JWKSFile.
	JWKSURL string `yaml:"jwks_url" json:"jwks_url"`
	// JWKSCAFile is a PEM bundle of CAs trusted for JWKSURL, in addition to
	// the system roots. Default none.
	JWKSCAFile string `yaml:"jwks_ca_file" json:"jwks_ca_file"`
	// RefreshInterval is how often the JWKS is fetched again. Default 5m.
	RefreshInterval time.Duration `yaml:"refresh_interval" json:"refresh_interval"`
	// MinRefreshInterval is the minimum time between two fetches triggered
	// by an unknown key id. Default 30s.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval" json:"min_refresh_interval"`
	// FetchTimeout bounds one JWKS fetch. Default 5s.
	FetchTimeout time.Duration `yaml:"fetch_timeout" json:"fetch_timeout"`
	// Issuer is the required iss claim. Default https://iam.example.invalid/v3.
	Issuer string `yaml:"issuer" json:"issuer"`
	// Audience is a value the aud claim must contain. Default ecs.
	Audience string `yaml:"audience" json:"audience"`
	// Algorithms are the accepted signature algorithms. Default RS, PS and
	// ES with 256, 384 and 512 bits, and EdDSA. HS* and none are rejected.
	Algorithms []string `yaml:"algorithms" json:"algorithms"`
	// ClockSkew is the tolerance for exp, nbf and iat. Default 60s.
	ClockSkew time.Duration `yaml:"clock_skew" json:"clock_skew"`
	// CacheSize is the maximum number of verified tokens kept until they
	// expire. Default 10000.
	CacheSize int `yaml:"cache_size" json:"cache_size"`
	// MaxTokenBytes is the maximum length of a token. Default 16384.
	MaxTokenBytes int `yaml:"max_token_bytes" json:"max_token_bytes"`
}

// JWTAuthnConfig configures the jwt_authn source.
type JWTAuthnConfig struct {
	// PayloadKey is the payload_in_metadata name set in Envoy's jwt_authn
	// provider. Default jwt_payload.
	PayloadKey string `yaml:"payload_key" json:"payload_key"`
	// Issuer, when set, is the required iss claim. Default "" (Envoy's
	// jwt_authn provider already checked it).
	Issuer string `yaml:"issuer" json:"issuer"`
}

// MTLSConfig configures the mtls source.
type MTLSConfig struct {
	// Principals maps SPIFFE IDs to users. A peer whose ID is not listed
	// has no credential for this source. Default empty.
	Principals map[string]MTLSPrincipal `yaml:"principals" json:"principals"`
}

// MTLSPrincipal is the user a SPIFFE ID stands for.
type MTLSPrincipal struct {
	UserID     string `yaml:"user_id" json:"user_id"`
	UserName   string `yaml:"user_name" json:"user_name"`
	DomainID   string `yaml:"domain_id" json:"domain_id"`
	DomainName string `yaml:"domain_name" json:"domain_name"`
}

// HeaderConfig configures the header source. Enable it only when a proxy in
// front of Envoy authenticates every request and overwrites these headers,
// because a client could otherwise set them.
type HeaderConfig struct {
	// Enabled turns the source on. Listing it in Sources is not enough.
	// Default false.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// UserIDHeader carries the user id. Required when enabled.
	UserIDHeader string `yaml:"user_id_header" json:"user_id_header"`
	// DomainIDHeader carries the domain id. Required when enabled.
	DomainIDHeader string `yaml:"domain_id_header" json:"domain_id_header"`
}

// ClaimMapping names the claims that fill each principal field. An empty
// name leaves the field unset.
type ClaimMapping struct {
	// UserID is the user id claim, required in every token. Default sub.
	UserID string `yaml:"user_id" json:"user_id"`
	// UserName default name.
	UserName string `yaml:"user_name" json:"user_name"`
	// DomainID is the domain id claim, required in every token. Default domain_id.
	DomainID string `yaml:"domain_id" json:"domain_id"`
	// DomainName default domain_name.
	DomainName string `yaml:"domain_name" json:"domain_name"`
	// ProjectID default project_id. When the token carries it, it must equal
	// the project id in the request path.
	ProjectID string `yaml:"project_id" json:"project_id"`
	// ProjectName default project_name.
	ProjectName string `yaml:"project_name" json:"project_name"`
	// AuthMethods is the list of authentication methods. Default amr.
	AuthMethods string `yaml:"auth_methods" json:"auth_methods"`
	// MFAMethod is the AuthMethods value that marks MFA. Default mfa.
	MFAMethod string `yaml:"mfa_method" json:"mfa_method"`
	// AuthTime is the authentication time in Unix seconds, for the MFA age.
	// Default auth_time.
	AuthTime string `yaml:"auth_time" json:"auth_time"`
}

// SetDefaults fills in every unset field with its default.
func (c *Config) SetDefaults() {
	if len(c.Sources) == 0 {
		c.Sources = []string{SourceJWT, SourceJWTAuthn}
	}
	c.JWT.setDefaults()
	if c.JWTAuthn.PayloadKey == "" {
		c.JWTAuthn.PayloadKey = DefaultJWTAuthnKey
	}
	c.Claims.setDefaults()
}

func (c *JWTConfig) setDefaults() {
	if len(c.Headers) == 0 {
		c.Headers = []string{DefaultAuthorization}
	}
	if c.JWKSFile == "" && c.JWKSURL == "" {
		c.JWKSFile = DefaultJWKSFile
	}
	setDefault(&c.RefreshInterval, DefaultRefreshInterval)
	setDefault(&c.MinRefreshInterval, DefaultMinRefreshInterval)
	setDefault(&c.FetchTimeout, DefaultFetchTimeout)
	setDefault(&c.ClockSkew, DefaultClockSkew)
	setDefault(&c.Issuer, DefaultIssuer)
	setDefault(&c.Audience, DefaultAudience)
	setDefault(&c.CacheSize, DefaultCacheSize)
	setDefault(&c.MaxTokenBytes, DefaultMaxTokenBytes)
	if len(c.Algorithms) == 0 {
		c.Algorithms = slices.Clone(DefaultAlgorithms)
	}
}

func (m *ClaimMapping) setDefaults() {
	setDefault(&m.UserID, "sub")
	setDefault(&m.UserName, "name")
	setDefault(&m.DomainID, "domain_id")
	setDefault(&m.DomainName, "domain_name")
	setDefault(&m.ProjectID, "project_id")
	setDefault(&m.ProjectName, "project_name")
	setDefault(&m.AuthMethods, "amr")
	setDefault(&m.MFAMethod, defaultMFAMethodValue)
	setDefault(&m.AuthTime, "auth_time")
}

func setDefault[T comparable](field *T, value T) {
	var zero T
	if *field == zero {
		*field = value
	}
}

// Validate reports every problem of the configuration at once, each naming
// its key under "identity.". Call it after SetDefaults.
func (c *Config) Validate() error {
	var problems []error
	report := func(key, format string, args ...any) {
		problems = append(problems, fmt.Errorf("identity.%s: "+format, append([]any{key}, args...)...))
	}

	seen := map[string]bool{}
	for i, source := range c.Sources {
		key := fmt.Sprintf("sources[%d]", i)
		switch {
		case !slices.Contains([]string{SourceJWT, SourceJWTAuthn, SourceMTLS, SourceHeader}, source):
			report(key, "unknown source %q; use jwt, jwt_authn, mtls or header", source)
		case seen[source]:
			report(key, "source %q is listed twice", source)
		}
		seen[source] = true
	}
	if seen[SourceHeader] && !c.Header.Enabled {
		report("header.enabled", "the header source is listed in sources but not enabled; set header.enabled: true to trust identity headers")
	}
	if c.Header.Enabled && !seen[SourceHeader] {
		report("sources", "header.enabled is true but sources does not list header")
	}
	if len(c.Sources) == 0 {
		report("sources", "no identity source is configured")
	}

	if seen[SourceJWT] {
		c.JWT.validate(report)
	}
	if seen[SourceJWTAuthn] && c.JWTAuthn.PayloadKey == "" {
		report("jwt_authn.payload_key", "missing payload key")
	}
	if seen[SourceMTLS] {
		c.MTLS.validate(report)
	}
	if c.Header.Enabled {
		c.Header.validate(report)
	}
	if c.Claims.UserID == "" {
		report("claims.user_id", "missing claim name")
	}
	if c.Claims.DomainID == "" {
		report("claims.domain_id", "missing claim name")
	}
	return errors.Join(problems...)
}

type reportFunc func(key, format string, args ...any)

func (c *JWTConfig) validate(report reportFunc) {
	for i, name := range c.Headers {
		if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, " :,") {
			report(fmt.Sprintf("jwt.headers[%d]", i), "invalid header name %q; use a lower-case name such as x-auth-token", name)
		}
	}
	switch {
	case c.JWKSFile != "" && c.JWKSURL != "":
		report("jwt.jwks_url", "set either jwks_file or jwks_url, not both")
	case c.JWKSURL != "":
		parsed, err := url.Parse(c.JWKSURL)
		if err != nil || parsed.Scheme != "https" || parsed.Host == "" {
			report("jwt.jwks_url", "invalid URL %q; use an https URL", c.JWKSURL)
		}
	case c.JWKSFile == "":
		report("jwt.jwks_file", "missing JWKS file or URL")
	}
	if c.JWKSCAFile != "" && c.JWKSURL == "" {
		report("jwt.jwks_ca_file", "set only together with jwks_url")
	}

	positive := map[string]time.Duration{
		"jwt.refresh_interval":     c.RefreshInterval,
		"jwt.min_refresh_interval": c.MinRefreshInterval,
		"jwt.fetch_timeout":        c.FetchTimeout,
	}
	for _, key := range slices.Sorted(maps.Keys(positive)) {
		if positive[key] <= 0 {
			report(key, "must be positive, got %s", positive[key])
		}
	}
	if c.ClockSkew < 0 {
		report("jwt.clock_skew", "must not be negative, got %s", c.ClockSkew)
	}
	if c.Issuer == "" {
		report("jwt.issuer", "missing issuer")
	}
	if c.Audience == "" {
		report("jwt.audience", "missing audience")
	}
	if c.CacheSize <= 0 {
		report("jwt.cache_size", "must be positive, got %d", c.CacheSize)
	}
	if c.MaxTokenBytes <= 0 {
		report("jwt.max_token_bytes", "must be positive, got %d", c.MaxTokenBytes)
	}
	if len(c.Algorithms) == 0 {
		report("jwt.algorithms", "no algorithm is allowed")
	}
	for i, alg := range c.Algorithms {
		if !slices.Contains(DefaultAlgorithms, alg) {
			report(fmt.Sprintf("jwt.algorithms[%d]", i), "unsupported algorithm %q; use one of %s", alg, strings.Join(DefaultAlgorithms, ", "))
		}
	}
}

func (c *MTLSConfig) validate(report reportFunc) {
	if len(c.Principals) == 0 {
		report("mtls.principals", "the mtls source is listed but maps no SPIFFE ID")
	}
	for _, id := range slices.Sorted(maps.Keys(c.Principals)) {
		key := "mtls.principals[" + id + "]"
		if !validSPIFFEID(id) {
			report(key, "invalid SPIFFE ID %q; use spiffe://<trust domain>/<path>", id)
		}
		principal := c.Principals[id]
		if principal.UserID == "" {
			report(key+".user_id", "missing user id")
		}
		if principal.DomainID == "" {
			report(key+".domain_id", "missing domain id")
		}
	}
}

func (c *HeaderConfig) validate(report reportFunc) {
	headers := []struct{ key, name string }{
		{"header.user_id_header", c.UserIDHeader},
		{"header.domain_id_header", c.DomainIDHeader},
	}
	for _, header := range headers {
		if header.name == "" || header.name != strings.ToLower(header.name) || strings.ContainsAny(header.name, " :,") {
			report(header.key, "invalid header name %q; use a lower-case name such as x-trusted-user-id", header.name)
		}
	}
	if c.UserIDHeader != "" && c.UserIDHeader == c.DomainIDHeader {
		report("header.domain_id_header", "must differ from user_id_header")
	}
}

// TrustedHeaderNames returns the identity headers of the header source, which
// the Envoy response must remove before a request reaches the upstream, or
// nil when the source is disabled.
func (c *Config) TrustedHeaderNames() []string {
	if !c.Header.Enabled {
		return nil
	}
	return []string{c.Header.UserIDHeader, c.Header.DomainIDHeader}
}

// validSPIFFEID checks the shape spiffe://<trust domain>/<path> with a
// non-empty trust domain and path.
func validSPIFFEID(id string) bool {
	rest, ok := strings.CutPrefix(id, "spiffe://")
	if !ok {
		return false
	}
	domain, path, ok := strings.Cut(rest, "/")
	return ok && domain != "" && path != "" && !strings.ContainsAny(id, " ,?#")
}
