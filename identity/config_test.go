package identity

import (
	"strings"
	"testing"
	"time"
)

func TestConfigDefaultsValid(t *testing.T) {
	var conf Config
	conf.SetDefaults()
	if err := conf.Validate(); err != nil {
		t.Fatalf("Validate() after SetDefaults = %v", err)
	}
	if got := strings.Join(conf.Sources, ","); got != "jwt,jwt_authn" {
		t.Errorf("Sources = %s, want jwt,jwt_authn", got)
	}
	if conf.JWT.JWKSFile != DefaultJWKSFile {
		t.Errorf("JWT.JWKSFile = %q, want %q", conf.JWT.JWKSFile, DefaultJWKSFile)
	}
	if conf.TrustedHeaderNames() != nil {
		t.Errorf("TrustedHeaderNames() = %q, want nil", conf.TrustedHeaderNames())
	}
}

func TestConfigValidateReportsAll(t *testing.T) {
	conf := Config{Sources: []string{"jwt", "kerberos", "jwt", "header", "mtls"}}
	conf.SetDefaults()
	conf.JWT.JWKSURL = "http://idp.example.invalid/jwks"
	conf.JWT.Headers = []string{"X-Auth-Token"}
	conf.JWT.Algorithms = []string{"RS256", "HS256", "none"}
	conf.JWT.ClockSkew = -time.Second
	conf.JWT.FetchTimeout = -1
	conf.MTLS.Principals = map[string]MTLSPrincipal{"spiffe://example.invalid": {UserID: "u-0002"}}

	err := conf.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want problems")
	}
	for _, want := range []string{
		`identity.sources[1]: unknown source "kerberos"`,
		`identity.sources[2]: source "jwt" is listed twice`,
		"identity.header.enabled: the header source is listed in sources but not enabled",
		`identity.jwt.headers[0]: invalid header name "X-Auth-Token"`,
		"identity.jwt.jwks_url: set either jwks_file or jwks_url, not both",
		`identity.jwt.algorithms[1]: unsupported algorithm "HS256"`,
		`identity.jwt.algorithms[2]: unsupported algorithm "none"`,
		"identity.jwt.clock_skew: must not be negative",
		"identity.jwt.fetch_timeout: must be positive",
		`identity.mtls.principals[spiffe://example.invalid]: invalid SPIFFE ID`,
		`identity.mtls.principals[spiffe://example.invalid].domain_id: missing domain id`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v\nwant it to contain %q", err, want)
		}
	}
}

func TestConfigValidateJWKSURL(t *testing.T) {
	tests := []struct {
		url     string
		errText string
	}{
		{url: "https://iam.example.invalid/v3/jwks"},
		{url: "http://iam.example.invalid/v3/jwks", errText: "use an https URL"},
		{url: "https://", errText: "use an https URL"},
	}
	for _, tt := range tests {
		conf := Config{}
		conf.JWT.JWKSURL = tt.url
		conf.SetDefaults()
		err := conf.Validate()
		if tt.errText == "" {
			if err != nil {
				t.Errorf("Validate(%s) = %v, want nil", tt.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.errText) {
			t.Errorf("Validate(%s) = %v, want %q", tt.url, err, tt.errText)
		}
	}
}

func TestConfigHeaderSource(t *testing.T) {
	conf := Config{Sources: []string{SourceHeader}}
	conf.Header = HeaderConfig{Enabled: true, UserIDHeader: "x-trusted-user-id", DomainIDHeader: "x-trusted-user-id"}
	conf.SetDefaults()
	err := conf.Validate()
	if err == nil || !strings.Contains(err.Error(), "identity.header.domain_id_header: must differ from user_id_header") {
		t.Errorf("Validate() = %v, want the duplicate header name reported", err)
	}

	conf.Header.DomainIDHeader = "x-trusted-domain-id"
	if err := conf.Validate(); err != nil {
		t.Fatalf("Validate() = %v", err)
	}
	if got := strings.Join(conf.TrustedHeaderNames(), ","); got != "x-trusted-user-id,x-trusted-domain-id" {
		t.Errorf("TrustedHeaderNames() = %s", got)
	}
}
