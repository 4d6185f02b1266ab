package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
)

// DefaultAdminListen is the default address of the admin listener. It is a
// loopback address, so the admin API is unreachable from other hosts unless
// an operator changes it.
const DefaultAdminListen = "127.0.0.1:9193"

// AdminConf configures the PolicyAdminService listener (YAML key `admin`).
type AdminConf struct {
	// Enabled turns the admin API on. Default false.
	Enabled bool `yaml:"enabled"`
	// Listen is the admin listener's host:port. Default "127.0.0.1:9193". A
	// non-loopback address requires TLS.
	Listen string `yaml:"listen"`
	// BearerTokenFile names a file whose content, without surrounding
	// whitespace, is the token callers send as "authorization: Bearer
	// <token>". Default empty: no token authentication.
	BearerTokenFile string `yaml:"bearer_token_file"`
	// TLSCertFile is the server certificate chain in PEM. Default empty: no
	// TLS.
	TLSCertFile string `yaml:"tls_cert_file"`
	// TLSKeyFile is the private key of TLSCertFile in PEM.
	TLSKeyFile string `yaml:"tls_key_file"`
	// ClientCAFile holds the PEM CA certificates that sign client
	// certificates. When set, a verified client certificate authenticates
	// the caller (mTLS). Default empty.
	ClientCAFile string `yaml:"client_ca_file"`
}

// SetDefaults fills in the listen address.
func (c *AdminConf) SetDefaults() {
	if c.Listen == "" {
		c.Listen = DefaultAdminListen
	}
}

// Validate reports every problem of an enabled admin configuration at once,
// naming the config keys. A disabled configuration is always valid.
func (c *AdminConf) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	host, _, err := net.SplitHostPort(c.Listen)
	if err := validateAddress(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("admin.listen: %w", err))
	}
	tlsOn := c.TLSCertFile != "" || c.TLSKeyFile != ""
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("admin.tls_cert_file and admin.tls_key_file: set both or neither"))
	}
	if c.BearerTokenFile == "" && c.ClientCAFile == "" {
		errs = append(errs, errors.New("admin.bearer_token_file or admin.client_ca_file: set at least one, because the admin API never runs without authentication"))
	}
	if c.ClientCAFile != "" && (c.TLSCertFile == "" || c.TLSKeyFile == "") {
		errs = append(errs, errors.New("admin.client_ca_file: client certificates need admin.tls_cert_file and admin.tls_key_file"))
	}
	if err == nil && !tlsOn && !isLoopbackHost(host) {
		errs = append(errs, fmt.Errorf("admin.listen: %q is not a loopback address, so it needs TLS (admin.tls_cert_file) to protect the bearer token", c.Listen))
	}
	return errors.Join(errs...)
}

func isLoopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	addr, err := netip.ParseAddr(host)
	return err == nil && addr.IsLoopback()
}

// Credentials reads the files that c names and returns the bearer token
// and the server TLS configuration. The token is empty and the
// configuration nil when c does not configure them.
func (c *AdminConf) Credentials() (string, *tls.Config, error) {
	token := ""
	if c.BearerTokenFile != "" {
		raw, err := os.ReadFile(c.BearerTokenFile)
		if err != nil {
			return "", nil, fmt.Errorf("failed to read admin.bearer_token_file: %w", err)
		}
		token = strings.TrimSpace(string(raw))
		if token == "" {
			return "", nil, fmt.Errorf("admin.bearer_token_file: %s is empty", c.BearerTokenFile)
		}
	}
	if c.TLSCertFile == "" {
		return token, nil, nil
	}

	cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		return "", nil, fmt.Errorf("failed to load admin.tls_cert_file and admin.tls_key_file: %w", err)
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.ClientCAFile != "" {
		pem, err := os.ReadFile(c.ClientCAFile)
		if err != nil {
			return "", nil, fmt.Errorf("failed to read admin.client_ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return "", nil, fmt.Errorf("admin.client_ca_file: %s contains no PEM certificate", c.ClientCAFile)
		}
		conf.ClientCAs = pool
		// With a token as the alternative, a client may connect without a
		// certificate and authenticate with the token instead.
		conf.ClientAuth = tls.RequireAndVerifyClientCert
		if token != "" {
			conf.ClientAuth = tls.VerifyClientCertIfGiven
		}
	}
	return token, conf, nil
}

// AdminOptions are the components behind the PolicyAdminService.
type AdminOptions struct {
	// Store is the policy store. Only a backend that implements
	// [store.Writer] (PostgreSQL, etcd) accepts calls. With any other
	// backend every call fails with FAILED_PRECONDITION. Required.
	Store store.Store
	// ValidatePolicy checks a policy document before it is written and
	// returns every problem, normally evaluator.ValidatePolicy with the
	// configured limits. Required.
	ValidatePolicy func(name string, doc []byte) error
	// BearerToken, when non-empty, authenticates callers that send
	// "authorization: Bearer <BearerToken>".
	BearerToken string
	// TLS, when non-nil, serves TLS. When it verifies client certificates
	// (ClientCAs set), a verified certificate authenticates the caller.
	TLS *tls.Config
	// Logger receives one Info record per write and the errors of the
	// store. Nil discards them.
	Logger *slog.Logger
}

// NewAdminServer returns a gRPC server with the PolicyAdminService and
// server reflection registered behind an authentication interceptor. The caller serves it on
// its own listener and stops it. extra options are appended, for example
// interceptors for logging and metrics, which run after authentication.
func NewAdminServer(opts AdminOptions, extra ...grpc.ServerOption) (*grpc.Server, error) {
	var missing []error
	if opts.Store == nil {
		missing = append(missing, errors.New("store is missing"))
	}
	if opts.ValidatePolicy == nil {
		missing = append(missing, errors.New("policy validator is missing"))
	}
	mtls := opts.TLS != nil && opts.TLS.ClientCAs != nil && opts.TLS.ClientAuth >= tls.VerifyClientCertIfGiven
	if opts.BearerToken == "" && !mtls {
		missing = append(missing, errors.New("authentication is missing: set a bearer token or a TLS config that verifies client certificates"))
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("failed to create admin server: %w", errors.Join(missing...))
	}

	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	auth := &adminAuthenticator{mtls: mtls, logger: logger}
	if opts.BearerToken != "" {
		sum := sha256.Sum256([]byte(opts.BearerToken))
		auth.tokenHash = sum[:]
	}

	serverOpts := []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(auth.unary),
		grpc.ChainStreamInterceptor(auth.stream),
	}
	if opts.TLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(opts.TLS)))
	}
	serverOpts = append(serverOpts, extra...)

	s := grpc.NewServer(serverOpts...)
	ecsauthzv1.RegisterPolicyAdminServiceServer(s, &adminService{
		store:          opts.Store,
		validatePolicy: opts.ValidatePolicy,
		logger:         logger,
	})
	// Reflection lets grpcurl describe the service. Its stream passes the
	// same authentication interceptor as every other call.
	reflection.Register(s)
	return s, nil
}

// adminAuthenticator accepts a call with a verified client certificate or
// the configured bearer token and rejects every other call with
// UNAUTHENTICATED.
type adminAuthenticator struct {
	mtls   bool
	logger *slog.Logger
	// lastLog is the Unix time in seconds of the last rejection logged, and
	// suppressed counts the rejections not logged since then.
	lastLog    atomic.Int64
	suppressed atomic.Int64
	// tokenHash is the SHA-256 of the bearer token, nil without one. Hashes
	// are compared so that the comparison takes the same time whatever the
	// length of the presented token.
	tokenHash []byte
}

func (a *adminAuthenticator) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := a.authenticate(ctx); err != nil {
		a.logRejection(ctx, info.FullMethod)
		return nil, err
	}
	return handler(ctx, req)
}

func (a *adminAuthenticator) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := a.authenticate(ss.Context()); err != nil {
		a.logRejection(ss.Context(), info.FullMethod)
		return err
	}
	return handler(srv, ss)
}

// logRejection logs a rejected call at Warn level, at most once per second,
// with the number of rejections left out since the previous record.
func (a *adminAuthenticator) logRejection(ctx context.Context, method string) {
	now := time.Now().Unix()
	last := a.lastLog.Load()
	if now <= last || !a.lastLog.CompareAndSwap(last, now) {
		a.suppressed.Add(1)
		return
	}
	peerAddr := ""
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		peerAddr = p.Addr.String()
	}
	a.logger.LogAttrs(ctx, slog.LevelWarn, "admin call rejected: no valid credentials",
		slog.String("method", method), slog.String("peer", peerAddr),
		slog.Int64("suppressed", a.suppressed.Swap(0)))
}

var errAdminUnauthenticated = status.Error(codes.Unauthenticated,
	"admin API requires a verified client certificate or a valid \"authorization: Bearer <token>\" header")

func (a *adminAuthenticator) authenticate(ctx context.Context) error {
	if a.mtls && hasVerifiedClientCert(ctx) {
		return nil
	}
	if a.tokenHash == nil {
		return errAdminUnauthenticated
	}

	values := metadata.ValueFromIncomingContext(ctx, "authorization")
	if len(values) != 1 {
		return errAdminUnauthenticated
	}
	// The scheme name is case-insensitive (RFC 7235, section 2.1), as on
	// the JWT path. The token itself is compared exactly.
	scheme, token, ok := strings.Cut(values[0], " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return errAdminUnauthenticated
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], a.tokenHash) != 1 {
		return errAdminUnauthenticated
	}
	return nil
}

func hasVerifiedClientCert(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	return ok && len(info.State.VerifiedChains) > 0
}
