package server

import (
	"log/slog"

	"github.com/ecsauthz/ecsauthz/identity"
)

// newIdentity builds the caller identity resolver from conf. It loads the
// JWKS when the jwt source is configured, so a missing key set fails here.
func newIdentity(conf *Config, logger *slog.Logger) (*identity.Resolver, error) {
	return identity.New(conf.Identity, identity.WithLogger(logger.With("logger", "identity")))
}

// trustedHeaders returns the identity headers that a trusted proxy may set.
// Allow responses remove them before the request reaches the upstream.
func trustedHeaders(conf *Config) []string {
	return conf.Identity.TrustedHeaderNames()
}
