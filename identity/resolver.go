package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// Resolver establishes the caller of a request from the configured sources.
// It is safe for concurrent use. Call [Resolver.Close] to stop the
// background JWKS refresh.
type Resolver struct {
	conf       Config
	now        func() time.Time
	logger     *slog.Logger
	keys       *keySet
	cache      *tokenCache
	rejected   *tokenCache
	algorithms []jose.SignatureAlgorithm
	sources    []source
}

// The rejected-token cache bounds the work a client can cause by repeating
// an invalid token. It is small because a well-behaved client does not
// repeat a rejected token, and its entries expire after a minute because
// they only save work.
const (
	rejectedCacheSize  = 1024
	rejectedTTLSeconds = 60
)

// source tries one identity source. found is false when the request carries
// no credential for it, and then the next source is tried.
type source struct {
	name     string
	identify func(ctx context.Context, in *Input) (principal evaluator.Principal, found bool, err error)
}

// Option changes how [New] builds a Resolver.
type Option func(*options)

type options struct {
	logger *slog.Logger
	client *http.Client
	now    func() time.Time
}

// WithLogger sets the logger for JWKS loads and refresh failures. The
// default discards log output.
func WithLogger(logger *slog.Logger) Option {
	return func(o *options) { o.logger = logger }
}

// WithHTTPClient sets the client that fetches an https JWKS. The default
// trusts the system roots plus identity.jwt.jwks_ca_file.
func WithHTTPClient(client *http.Client) Option {
	return func(o *options) { o.client = client }
}

// WithClock sets the time source for token validation. The default is
// time.Now.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New builds a Resolver for conf, which must have passed
// [Config.Validate]. When the jwt source is configured, it loads the JWKS
// before returning, within identity.jwt.fetch_timeout, so a missing or
// invalid JWKS fails here.
func New(conf Config, opts ...Option) (*Resolver, error) {
	o := options{logger: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	r := &Resolver{
		conf:     conf,
		now:      o.now,
		logger:   o.logger,
		cache:    newTokenCache(conf.JWT.CacheSize),
		rejected: newTokenCache(rejectedCacheSize),
	}
	for _, alg := range conf.JWT.Algorithms {
		r.algorithms = append(r.algorithms, jose.SignatureAlgorithm(alg))
	}

	for _, name := range conf.Sources {
		switch name {
		case SourceJWT:
			ctx, cancel := context.WithTimeout(context.Background(), conf.JWT.FetchTimeout)
			keys, err := newKeySet(ctx, conf.JWT, o.client, o.logger, o.now, r.purgeCaches)
			cancel()
			if err != nil {
				r.Close()
				return nil, fmt.Errorf("failed to load identity.jwt JWKS: %w", err)
			}
			r.keys = keys
			r.sources = append(r.sources, source{name, r.identifyJWT})
		case SourceJWTAuthn:
			r.sources = append(r.sources, source{name, r.identifyJWTAuthn})
		case SourceMTLS:
			r.sources = append(r.sources, source{name, r.identifyMTLS})
		case SourceHeader:
			r.sources = append(r.sources, source{name, r.identifyHeader})
		default:
			r.Close()
			return nil, fmt.Errorf("unknown identity source %q", name)
		}
	}
	return r, nil
}

// Close stops the background JWKS refresh. Calling it again has no effect.
// It returns nil.
func (r *Resolver) Close() error {
	if r.keys != nil {
		r.keys.close()
	}
	return nil
}

// Identify returns the caller of in. The first configured source that finds
// a credential decides: a bad credential is not passed over for a later
// source. Errors wrap [ErrUnauthenticated] or, when the token's project
// differs from in.PathProjectID, [ErrProjectMismatch]. Their text names the
// source and the cause but never the token.
func (r *Resolver) Identify(ctx context.Context, in *Input) (evaluator.Principal, error) {
	for _, src := range r.sources {
		principal, found, err := src.identify(ctx, in)
		if !found {
			continue
		}
		if err != nil {
			return evaluator.Principal{}, fmt.Errorf("%w: %s: %w", ErrUnauthenticated, src.name, err)
		}
		if principal.ProjectID != "" && in.PathProjectID != "" && principal.ProjectID != in.PathProjectID {
			return evaluator.Principal{}, fmt.Errorf("%w: %s: token project %q, path project %q",
				ErrProjectMismatch, src.name, principal.ProjectID, in.PathProjectID)
		}
		return principal, nil
	}
	return evaluator.Principal{}, fmt.Errorf("%w: no credential for sources %s", ErrUnauthenticated, strings.Join(r.conf.Sources, ", "))
}

// identifyJWT verifies a bearer token, or finds it in the token cache.
func (r *Resolver) identifyJWT(ctx context.Context, in *Input) (evaluator.Principal, bool, error) {
	if in.Headers == nil {
		return evaluator.Principal{}, false, nil
	}
	token, header, found, err := bearerToken(in.Headers, r.conf.JWT.Headers)
	if !found {
		return evaluator.Principal{}, false, nil
	}
	if err != nil {
		return evaluator.Principal{}, true, fmt.Errorf("header %s: %w", header, err)
	}

	nowUnix := r.now().Unix()
	key := hashToken(token)
	if cached, ok := r.cache.get(key, nowUnix); ok {
		return cached.identity.principalAt(nowUnix), true, nil
	}
	if cached, ok := r.rejected.get(key, nowUnix); ok {
		return evaluator.Principal{}, true, fmt.Errorf("header %s: %w", header, cached.err)
	}

	identity, expires, err := r.verifyToken(ctx, token)
	if err != nil {
		// A rejection that cannot change for the same keys is cached, so a
		// client repeating a bad token does not cost a signature check on
		// every request.
		if !errors.Is(err, errUnknownKey) && !errors.Is(err, errNotYetValid) {
			r.rejected.put(key, nowUnix+rejectedTTLSeconds, verification{err: err})
		}
		return evaluator.Principal{}, true, fmt.Errorf("header %s: %w", header, err)
	}
	r.cache.put(key, expires, verification{identity: identity})
	return identity.principalAt(nowUnix), true, nil
}

// purgeCaches drops every cached verification result after the JWKS
// changed: a removed key must stop validating tokens, and a new key may
// validate tokens rejected before.
func (r *Resolver) purgeCaches() {
	r.cache.purge()
	r.rejected.purge()
}

// identifyJWTAuthn maps the payload that Envoy's jwt_authn filter verified.
// Envoy checked the signature, exp and nbf, so only the claims are read,
// and the issuer when identity.jwt_authn.issuer is set.
func (r *Resolver) identifyJWTAuthn(_ context.Context, in *Input) (evaluator.Principal, bool, error) {
	payload := in.JWTAuthn.GetFields()[r.conf.JWTAuthn.PayloadKey].GetStructValue()
	if payload == nil {
		return evaluator.Principal{}, false, nil
	}
	claims := structClaims{fields: payload.GetFields()}
	if want := r.conf.JWTAuthn.Issuer; want != "" {
		issuer, _, err := claims.stringClaim("iss")
		if err != nil {
			return evaluator.Principal{}, true, err
		}
		if issuer != want {
			return evaluator.Principal{}, true, fmt.Errorf("invalid issuer %q", issuer)
		}
	}
	identity, err := identityFromClaims(claims, &r.conf.Claims)
	if err != nil {
		return evaluator.Principal{}, true, err
	}
	return identity.principalAt(r.now().Unix()), true, nil
}

// identifyMTLS maps the peer's SPIFFE ID. An ID that is not configured is
// no credential, because in a mesh every caller presents one.
func (r *Resolver) identifyMTLS(_ context.Context, in *Input) (evaluator.Principal, bool, error) {
	mapped, ok := r.conf.MTLS.Principals[in.SourcePrincipal]
	if in.SourcePrincipal == "" || !ok {
		return evaluator.Principal{}, false, nil
	}
	return evaluator.Principal{
		UserID:     mapped.UserID,
		UserName:   mapped.UserName,
		DomainID:   mapped.DomainID,
		DomainName: mapped.DomainName,
		MFAAge:     -1,
	}, true, nil
}

// identifyHeader reads the trusted identity headers. It is only listed when
// identity.header.enabled is true.
func (r *Resolver) identifyHeader(_ context.Context, in *Input) (evaluator.Principal, bool, error) {
	if in.Headers == nil || !r.conf.Header.Enabled {
		return evaluator.Principal{}, false, nil
	}
	userID, userCount := in.Headers.Header(r.conf.Header.UserIDHeader)
	domainID, domainCount := in.Headers.Header(r.conf.Header.DomainIDHeader)
	if userCount == 0 && domainCount == 0 {
		return evaluator.Principal{}, false, nil
	}
	for _, header := range []struct {
		name, value string
		count       int
	}{
		{r.conf.Header.UserIDHeader, userID, userCount},
		{r.conf.Header.DomainIDHeader, domainID, domainCount},
	} {
		switch {
		case header.count > 1 || strings.IndexByte(header.value, ',') >= 0:
			return evaluator.Principal{}, true, fmt.Errorf("%w: %d values of header %s", errAmbiguousCredential, max(header.count, 2), header.name)
		case strings.TrimSpace(header.value) == "":
			return evaluator.Principal{}, true, fmt.Errorf("missing header %s", header.name)
		}
	}
	return evaluator.Principal{UserID: userID, DomainID: domainID, MFAAge: -1}, true, nil
}
