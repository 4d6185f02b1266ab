package envoyconfig

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/ecsauthz/ecsauthz/server"
)

const (
	bootstrapFile = "envoy.yaml"

	jwtAuthnFilter = "envoy.filters.http.jwt_authn"
	extAuthzFilter = "envoy.filters.http.ext_authz"
	routerFilter   = "envoy.filters.http.router"

	authzCluster = "ecsauthz"
	authzAddress = "127.0.0.1"
	authzPort    = 9191

	// serverMaxRecvMsgBytes is the default gRPC receive limit of ecsauthz.
	// Envoy's max_request_bytes must stay below it, because a larger
	// CheckRequest fails with RESOURCE_EXHAUSTED instead of a decision.
	serverMaxRecvMsgBytes = server.DefaultMaxRecvMsgBytes
)

// The typed_config messages of envoy.yaml resolve through the protobuf
// registry, which these imports fill. They are used below as well.
var (
	_ = &routerv3.Router{}
	_ = &httpv3.HttpProtocolOptions{}
	_ = &extauthzv3.ExtAuthzPerRoute{}
)

func TestBootstrapValidates(t *testing.T) {
	bootstrap := loadBootstrap(t, readBootstrap(t))

	if err := bootstrap.ValidateAll(); err != nil {
		t.Fatalf("%s fails Envoy's proto validation: %v", bootstrapFile, err)
	}

	// ValidateAll does not look inside Any fields, so each typed_config is
	// decoded and validated on its own.
	hcm := connectionManager(t, bootstrap)
	if err := hcm.ValidateAll(); err != nil {
		t.Errorf("http_connection_manager fails validation: %v", err)
	}
	for _, filter := range hcm.GetHttpFilters() {
		validateAny(t, "http filter "+filter.GetName(), filter.GetTypedConfig())
	}
	for _, host := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, route := range host.GetRoutes() {
			for name, config := range route.GetTypedPerFilterConfig() {
				validateAny(t, "typed_per_filter_config "+name, config)
			}
		}
	}
	for _, cluster := range bootstrap.GetStaticResources().GetClusters() {
		for name, options := range cluster.GetTypedExtensionProtocolOptions() {
			validateAny(t, "cluster "+cluster.GetName()+" "+name, options)
		}
	}
}

func TestBootstrapSecuritySettings(t *testing.T) {
	bootstrap := loadBootstrap(t, readBootstrap(t))

	for _, problem := range securityProblems(bootstrap) {
		t.Errorf("%s: %s", bootstrapFile, problem)
	}
}

// TestSecurityProblemsDetected changes one setting of envoy.yaml at a time
// and checks that securityProblems reports it, so the checks above can fail.
func TestSecurityProblemsDetected(t *testing.T) {
	original := string(readBootstrap(t))
	tests := []struct {
		name        string
		old, new    string
		wantProblem string
	}{
		{"fail open", "failure_mode_allow: false", "failure_mode_allow: true", "failure_mode_allow"},
		{"body as string", "pack_as_bytes: true", "pack_as_bytes: false", "pack_as_bytes"},
		{"no partial body", "allow_partial_message: true", "allow_partial_message: false", "allow_partial_message"},
		{"body above recv limit", "max_request_bytes: 65536", "max_request_bytes: 16777216", "max_request_bytes"},
		{"timeout not 200ms", "timeout: 0.200s", "timeout: 5s", "timeout"},
		{"api version auto", "transport_api_version: V3", "transport_api_version: AUTO", "transport_api_version"},
		{"escaped slashes kept", "path_with_escaped_slashes_action: REJECT_REQUEST", "path_with_escaped_slashes_action: KEEP_UNCHANGED", "path_with_escaped_slashes_action"},
		{"path not normalized", "normalize_path: true", "normalize_path: false", "normalize_path"},
		{"slashes not merged", "merge_slashes: true", "merge_slashes: false", "merge_slashes"},
		{"jwt metadata not sent", "- envoy.filters.http.jwt_authn\n", "- envoy.filters.http.other\n", "metadata_context_namespaces"},
		{"payload not in metadata", "payload_in_metadata: jwt_payload", "payload_in_metadata: claims", "payload_in_metadata"},
		{"token not forwarded", "forward: true", "forward: false", "forward"},
		{"wrong issuer", "issuer: https://iam.example.invalid/v3", "issuer: https://other.example.invalid", "issuer"},
		{"wrong audience", "audiences: [ecs]", "audiences: [evs]", "audiences"},
		{"authz cluster port", "port_value: 9191", "port_value: 9999", "9191"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if n := strings.Count(original, tt.old); n != 1 {
				t.Fatalf("%s contains %q %d times, want exactly 1", bootstrapFile, tt.old, n)
			}
			changed := strings.Replace(original, tt.old, tt.new, 1)

			problems := securityProblems(loadBootstrap(t, []byte(changed)))

			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.wantProblem) }) {
				t.Errorf("after %q -> %q: problems = %q, want one mentioning %q", tt.old, tt.new, problems, tt.wantProblem)
			}
		})
	}
}

func TestHTTPFilterOrder(t *testing.T) {
	hcm := connectionManager(t, loadBootstrap(t, readBootstrap(t)))

	var names []string
	for _, filter := range hcm.GetHttpFilters() {
		names = append(names, filter.GetName())
	}

	want := []string{jwtAuthnFilter, extAuthzFilter, routerFilter}
	if !slices.Equal(names, want) {
		t.Errorf("http_filters = %q, want %q: jwt_authn must fill the metadata before ext_authz sends it, and router must be last", names, want)
	}
}

// validateAny decodes an Any through the protobuf registry and runs the
// message's generated ValidateAll.
func validateAny(t *testing.T, where string, config *anypb.Any) {
	t.Helper()
	message, err := config.UnmarshalNew()
	if err != nil {
		t.Errorf("%s: failed to decode %s: %v", where, config.GetTypeUrl(), err)
		return
	}
	validator, ok := message.(interface{ ValidateAll() error })
	if !ok {
		t.Errorf("%s: %s has no ValidateAll method", where, config.GetTypeUrl())
		return
	}
	if err := validator.ValidateAll(); err != nil {
		t.Errorf("%s fails validation: %v", where, err)
	}
}

func readBootstrap(t testing.TB) []byte {
	t.Helper()
	data, err := os.ReadFile(bootstrapFile)
	if err != nil {
		t.Fatalf("failed to read the bootstrap: %v", err)
	}
	return data
}

// loadBootstrap converts YAML to JSON and decodes it with protojson, which
// rejects unknown fields and Any types missing from the registry.
func loadBootstrap(t testing.TB, yamlData []byte) *bootstrapv3.Bootstrap {
	t.Helper()
	jsonData, err := yaml.YAMLToJSON(yamlData)
	if err != nil {
		t.Fatalf("invalid YAML in the bootstrap: %v", err)
	}

	bootstrap := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(jsonData, bootstrap); err != nil {
		t.Fatalf("failed to decode the bootstrap as envoy.config.bootstrap.v3.Bootstrap: %v", err)
	}
	return bootstrap
}

func connectionManager(t testing.TB, bootstrap *bootstrapv3.Bootstrap) *hcmv3.HttpConnectionManager {
	t.Helper()
	hcm, err := findConnectionManager(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	return hcm
}

// securityProblems returns one message for each setting that ecsauthz relies
// on and that the bootstrap lacks, or nil when all are present.
func securityProblems(bootstrap *bootstrapv3.Bootstrap) []string {
	hcm, err := findConnectionManager(bootstrap)
	if err != nil {
		return []string{err.Error()}
	}

	var problems []string
	problems = append(problems, pathProblems(hcm)...)

	var jwtAuthn jwtauthnv3.JwtAuthentication
	if err := unmarshalHTTPFilter(hcm, jwtAuthnFilter, &jwtAuthn); err != nil {
		problems = append(problems, err.Error())
	} else {
		problems = append(problems, jwtAuthnProblems(&jwtAuthn)...)
	}

	var extAuthz extauthzv3.ExtAuthz
	if err := unmarshalHTTPFilter(hcm, extAuthzFilter, &extAuthz); err != nil {
		problems = append(problems, err.Error())
	} else {
		problems = append(problems, extAuthzProblems(&extAuthz)...)
	}

	return append(problems, authzClusterProblems(bootstrap)...)
}

func pathProblems(hcm *hcmv3.HttpConnectionManager) []string {
	var problems []string
	if !hcm.GetNormalizePath().GetValue() {
		problems = append(problems, "normalize_path must be true")
	}
	if !hcm.GetMergeSlashes() {
		problems = append(problems, "merge_slashes must be true")
	}
	if got := hcm.GetPathWithEscapedSlashesAction(); got != hcmv3.HttpConnectionManager_REJECT_REQUEST {
		problems = append(problems, fmt.Sprintf("path_with_escaped_slashes_action is %v, want REJECT_REQUEST", got))
	}
	return problems
}

func jwtAuthnProblems(config *jwtauthnv3.JwtAuthentication) []string {
	provider := config.GetProviders()["iam"]
	if provider == nil {
		return []string{`jwt_authn has no provider named "iam"`}
	}

	var problems []string
	if got := provider.GetIssuer(); got != "https://iam.example.invalid/v3" {
		problems = append(problems, fmt.Sprintf("jwt_authn issuer is %q, want https://iam.example.invalid/v3", got))
	}
	if got := provider.GetAudiences(); !slices.Equal(got, []string{"ecs"}) {
		problems = append(problems, fmt.Sprintf("jwt_authn audiences are %q, want [ecs]", got))
	}
	if provider.GetLocalJwks().GetFilename() == "" {
		problems = append(problems, "jwt_authn must read local_jwks from a file")
	}
	if got := provider.GetPayloadInMetadata(); got != "jwt_payload" {
		problems = append(problems, fmt.Sprintf("jwt_authn payload_in_metadata is %q, want jwt_payload", got))
	}
	if !provider.GetForward() {
		problems = append(problems, "jwt_authn forward must be true so ecsauthz can verify the token itself")
	}
	return problems
}

func extAuthzProblems(config *extauthzv3.ExtAuthz) []string {
	var problems []string
	if config.GetFailureModeAllow() {
		problems = append(problems, "ext_authz failure_mode_allow must be false")
	}
	if got := config.GetTransportApiVersion(); got != corev3.ApiVersion_V3 {
		problems = append(problems, fmt.Sprintf("ext_authz transport_api_version is %v, want V3", got))
	}

	grpcService := config.GetGrpcService()
	if got := grpcService.GetEnvoyGrpc().GetClusterName(); got != authzCluster {
		problems = append(problems, fmt.Sprintf("ext_authz grpc_service cluster is %q, want %q", got, authzCluster))
	}
	if got := grpcService.GetTimeout().AsDuration(); grpcService.GetTimeout() == nil || got != 200*time.Millisecond {
		problems = append(problems, fmt.Sprintf("ext_authz grpc_service timeout is %v, want an explicit 200ms", got))
	}

	body := config.GetWithRequestBody()
	if got := body.GetMaxRequestBytes(); got == 0 || got >= serverMaxRecvMsgBytes {
		problems = append(problems, fmt.Sprintf("ext_authz with_request_body.max_request_bytes is %d, want more than 0 and less than %d", got, serverMaxRecvMsgBytes))
	}
	if !body.GetAllowPartialMessage() {
		problems = append(problems, "ext_authz with_request_body.allow_partial_message must be true")
	}
	if !body.GetPackAsBytes() {
		problems = append(problems, "ext_authz with_request_body.pack_as_bytes must be true")
	}
	if !slices.Contains(config.GetMetadataContextNamespaces(), jwtAuthnFilter) {
		problems = append(problems, "ext_authz metadata_context_namespaces must contain "+jwtAuthnFilter)
	}
	return problems
}

func authzClusterProblems(bootstrap *bootstrapv3.Bootstrap) []string {
	i := slices.IndexFunc(bootstrap.GetStaticResources().GetClusters(), func(c *clusterv3.Cluster) bool {
		return c.GetName() == authzCluster
	})
	if i < 0 {
		return []string{fmt.Sprintf("no cluster named %q", authzCluster)}
	}
	cluster := bootstrap.GetStaticResources().GetClusters()[i]

	var problems []string
	var options httpv3.HttpProtocolOptions
	anyOptions := cluster.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if anyOptions == nil || anyOptions.UnmarshalTo(&options) != nil || options.GetExplicitHttpConfig().GetHttp2ProtocolOptions() == nil {
		problems = append(problems, fmt.Sprintf("cluster %q must use HTTP/2 (explicit_http_config.http2_protocol_options)", authzCluster))
	}

	endpoints := cluster.GetLoadAssignment().GetEndpoints()
	if len(endpoints) != 1 || len(endpoints[0].GetLbEndpoints()) != 1 {
		return append(problems, fmt.Sprintf("cluster %q must have exactly one endpoint", authzCluster))
	}
	address := endpoints[0].GetLbEndpoints()[0].GetEndpoint().GetAddress().GetSocketAddress()
	if address.GetAddress() != authzAddress || address.GetPortValue() != authzPort {
		problems = append(problems, fmt.Sprintf("cluster %q endpoint is %s:%d, want %s:%d", authzCluster, address.GetAddress(), address.GetPortValue(), authzAddress, authzPort))
	}
	return problems
}

// findConnectionManager returns the HTTP connection manager of the first
// listener, the only one envoy.yaml defines.
func findConnectionManager(bootstrap *bootstrapv3.Bootstrap) (*hcmv3.HttpConnectionManager, error) {
	listeners := bootstrap.GetStaticResources().GetListeners()
	if len(listeners) != 1 {
		return nil, fmt.Errorf("bootstrap has %d listeners, want 1", len(listeners))
	}

	for _, chain := range listeners[0].GetFilterChains() {
		i := slices.IndexFunc(chain.GetFilters(), func(f *listenerv3.Filter) bool {
			return f.GetName() == "envoy.filters.network.http_connection_manager"
		})
		if i < 0 {
			continue
		}
		hcm := &hcmv3.HttpConnectionManager{}
		if err := chain.GetFilters()[i].GetTypedConfig().UnmarshalTo(hcm); err != nil {
			return nil, fmt.Errorf("failed to decode the http_connection_manager typed_config: %w", err)
		}
		return hcm, nil
	}
	return nil, fmt.Errorf("listener %q has no http_connection_manager filter", listeners[0].GetName())
}

func unmarshalHTTPFilter(hcm *hcmv3.HttpConnectionManager, name string, config proto.Message) error {
	for _, filter := range hcm.GetHttpFilters() {
		if filter.GetName() != name {
			continue
		}
		if err := filter.GetTypedConfig().UnmarshalTo(config); err != nil {
			return fmt.Errorf("failed to decode the typed_config of http filter %s: %w", name, err)
		}
		return nil
	}
	return fmt.Errorf("http filter %s is missing", name)
}
