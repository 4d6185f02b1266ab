package server

import "time"

// sectionSettings are the overridable keys of the component sections.
var sectionSettings = []setting{
	stringSetting("store.backend", "policy store backend: file, postgres or etcd", func(c *Config) *string { return &c.Store.Backend }),
	stringSetting("store.dir", "file store directory", func(c *Config) *string { return &c.Store.Dir }),
	stringSetting("store.dsn", "PostgreSQL connection string", func(c *Config) *string { return &c.Store.DSN }),
	stringsSetting("store.endpoints", "etcd client URLs", func(c *Config) *[]string { return &c.Store.Endpoints }),
	stringSetting("store.prefix", "etcd key prefix", func(c *Config) *string { return &c.Store.Prefix }),
	durationSetting("store.max_staleness", "maximum snapshot age before checks are denied with policy_unavailable; 0 turns it off", func(c *Config) *time.Duration { return &c.Store.MaxStaleness }),
	durationSetting("store.debounce", "wait after a store change before reloading", func(c *Config) *time.Duration { return &c.Store.Debounce }),
	durationSetting("store.sync_interval", "interval of store pings that confirm the snapshot", func(c *Config) *time.Duration { return &c.Store.SyncInterval }),
	durationSetting("store.dial_timeout", "timeout of each PostgreSQL or etcd connection attempt", func(c *Config) *time.Duration { return &c.Store.DialTimeout }),
	stringSetting("evaluator.region", "region name used in resource URNs", func(c *Config) *string { return &c.Evaluator.Region }),
	stringsSetting("evaluator.root_user_ids", "user ids allowed every action", func(c *Config) *[]string { return &c.Evaluator.RootUserIDs }),
	stringsSetting("identity.sources", "identity sources in the order tried: jwt, jwt_authn, mtls, header", func(c *Config) *[]string { return &c.Identity.Sources }),
	stringsSetting("identity.jwt.headers", "headers that carry the bearer token", func(c *Config) *[]string { return &c.Identity.JWT.Headers }),
	stringSetting("identity.jwt.jwks_file", "JWKS file that verifies tokens", func(c *Config) *string { return &c.Identity.JWT.JWKSFile }),
	stringSetting("identity.jwt.jwks_url", "HTTPS URL of the JWKS that verifies tokens", func(c *Config) *string { return &c.Identity.JWT.JWKSURL }),
	stringSetting("identity.jwt.issuer", "required token issuer (iss)", func(c *Config) *string { return &c.Identity.JWT.Issuer }),
	stringSetting("identity.jwt.audience", "required token audience (aud)", func(c *Config) *string { return &c.Identity.JWT.Audience }),
	durationSetting("identity.jwt.clock_skew", "tolerated clock difference for exp and nbf", func(c *Config) *time.Duration { return &c.Identity.JWT.ClockSkew }),
	boolSetting("admin.enabled", "serve the policy administration API", func(c *Config) *bool { return &c.Admin.Enabled }),
	stringSetting("admin.listen", "policy administration API listen address host:port", func(c *Config) *string { return &c.Admin.Listen }),
	stringSetting("admin.bearer_token_file", "file containing the bearer token of admin API callers", func(c *Config) *string { return &c.Admin.BearerTokenFile }),
	stringSetting("admin.tls_cert_file", "admin API server certificate chain (PEM)", func(c *Config) *string { return &c.Admin.TLSCertFile }),
	stringSetting("admin.tls_key_file", "admin API server private key (PEM)", func(c *Config) *string { return &c.Admin.TLSKeyFile }),
	stringSetting("admin.client_ca_file", "CA certificates (PEM) that verify admin API client certificates", func(c *Config) *string { return &c.Admin.ClientCAFile }),
	boolSetting("identity.header.enabled", "trust the identity header source (only behind a proxy that sets it)", func(c *Config) *bool { return &c.Identity.Header.Enabled }),
}

func (c *Config) setSectionDefaults() {
	c.Store.SetDefaults()
	c.Evaluator.SetDefaults()
	c.Identity.SetDefaults()
	c.Admin.SetDefaults()
}

// validateSections returns the problems of every section. Each section
// names its own keys, e.g. "store.dir: ...".
func (c *Config) validateSections() []error {
	var problems []error
	problems = append(problems, unjoinErrors(c.Store.Validate())...)
	problems = append(problems, unjoinErrors(c.Evaluator.Validate())...)
	problems = append(problems, unjoinErrors(c.Identity.Validate())...)
	problems = append(problems, unjoinErrors(c.Admin.Validate())...)
	return problems
}
