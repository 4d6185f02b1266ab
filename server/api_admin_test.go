package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/store"
	"github.com/ecsauthz/ecsauthz/store/storetest"
)

const adminTestToken = "admin-test-token"

func validateForAdminTest(name string, doc []byte) error {
	return evaluator.ValidatePolicy(name, doc, evaluator.DefaultLimits())
}

// startAdminEtcd serves the PolicyAdminService with bearer-token
// authentication over an etcd store that runs in the test process.
func startAdminEtcd(t *testing.T) ecsauthzv1.PolicyAdminServiceClient {
	t.Helper()
	return startAdmin(t, AdminOptions{Store: newEtcdStore(t), ValidatePolicy: validateForAdminTest, BearerToken: adminTestToken})
}

func newEtcdStore(t *testing.T) *store.EtcdStore {
	t.Helper()
	etcd := storetest.StartEtcd(t)
	st, err := store.NewEtcdStore(context.Background(), store.EtcdConfig{
		Endpoints: etcd.Endpoints(),
		Prefix:    "/ecsauthz-admin-test/",
	}, store.WithValidator(validateForAdminTest))
	if err != nil {
		t.Fatalf("NewEtcdStore: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// startAdminPostgres serves the PolicyAdminService over a new, migrated
// database on a PostgreSQL server that the test starts.
func startAdminPostgres(t *testing.T) ecsauthzv1.PolicyAdminServiceClient {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	ctx := apiTestContext(t)
	if _, err := store.Migrate(ctx, dsn); err != nil {
		t.Fatalf("store.Migrate: %v", err)
	}
	st, err := store.NewPostgresStore(ctx, dsn, store.WithValidator(validateForAdminTest))
	if err != nil {
		t.Fatalf("NewPostgresStore: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return startAdmin(t, AdminOptions{Store: st, ValidatePolicy: validateForAdminTest, BearerToken: adminTestToken})
}

// adminBackends are the writable stores the admin tests run against.
var adminBackends = []struct {
	name  string
	start func(*testing.T) ecsauthzv1.PolicyAdminServiceClient
}{
	{"etcd", startAdminEtcd},
	{"postgres", startAdminPostgres},
}

func startAdmin(t *testing.T, opts AdminOptions, dialOpts ...grpc.DialOption) ecsauthzv1.PolicyAdminServiceClient {
	t.Helper()
	s, err := NewAdminServer(opts)
	if err != nil {
		t.Fatalf("NewAdminServer: %v", err)
	}
	return ecsauthzv1.NewPolicyAdminServiceClient(serveLoopback(t, s, dialOpts...))
}

// adminContext returns a context that carries the test bearer token.
func adminContext(t *testing.T) context.Context {
	return metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Bearer "+adminTestToken)
}

func wantCode(t *testing.T, call string, err error, want codes.Code) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Errorf("%s: code = %v, want %v (err %v)", call, got, want, err)
	}
}

func TestAdminRejectsMissingCredentials(t *testing.T) {
	client := startAdminEtcd(t)
	tests := []struct {
		name string
		ctx  context.Context
	}{
		{"no authorization header", apiTestContext(t)},
		{"wrong token", metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Bearer wrong")},
		{"token prefix only", metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Bearer "+adminTestToken[:5])},
		{"basic scheme", metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Basic "+adminTestToken)},
		{"two tokens", metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Bearer "+adminTestToken, "authorization", "Bearer "+adminTestToken)},
		{"scheme without token", metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Bearer")},
		{"token with upper-case letters", metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", "Bearer "+strings.ToUpper(adminTestToken))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ListPolicies(tt.ctx, &ecsauthzv1.ListPoliciesRequest{})
			wantCode(t, "ListPolicies", err, codes.Unauthenticated)
			_, err = client.PutUser(tt.ctx, &ecsauthzv1.PutUserRequest{User: &ecsauthzv1.User{Id: "u-x", Name: "x", DomainId: "d-x"}})
			wantCode(t, "PutUser", err, codes.Unauthenticated)
		})
	}
}

func TestAdminAcceptsBearerSchemeAnyCase(t *testing.T) {
	client := startAdminEtcd(t)
	for _, scheme := range []string{"Bearer", "bearer", "BEARER", "bEaReR"} {
		t.Run(scheme, func(t *testing.T) {
			ctx := metadata.AppendToOutgoingContext(apiTestContext(t), "authorization", scheme+" "+adminTestToken)
			if _, err := client.ListPolicies(ctx, &ecsauthzv1.ListPoliciesRequest{}); err != nil {
				t.Errorf("ListPolicies with scheme %q: %v", scheme, err)
			}
		})
	}
}

func TestAdminRejectsInvalidPolicy(t *testing.T) {
	for _, backend := range adminBackends {
		t.Run(backend.name, func(t *testing.T) {
			testAdminRejectsInvalidPolicy(t, backend.start(t))
		})
	}
}

func testAdminRejectsInvalidPolicy(t *testing.T, client ecsauthzv1.PolicyAdminServiceClient) {
	ctx := adminContext(t)
	doc := `{"Version":"1.1","Statement":[{"Effect":"Maybe","Action":["ecs:cloudServers:list"]},{"Effect":"Allow","Action":["ecs"]}]}`

	_, err := client.PutPolicy(ctx, &ecsauthzv1.PutPolicyRequest{Policy: &ecsauthzv1.Policy{Name: "broken", Document: doc}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument {
		t.Fatalf("code = %v, want InvalidArgument (err %v)", st.Code(), err)
	}
	var problems []string
	for _, detail := range st.Details() {
		if br, ok := detail.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				problems = append(problems, v.GetDescription())
			}
		}
	}
	if len(problems) < 2 {
		t.Errorf("got %d problems %q, want one per invalid statement", len(problems), problems)
	}
	for _, location := range []string{"Statement[0].Effect", "Statement[1].Action"} {
		if !strings.Contains(st.Message(), location) {
			t.Errorf("message %q lacks %s", st.Message(), location)
		}
	}

	_, err = client.GetPolicy(ctx, &ecsauthzv1.GetPolicyRequest{Name: "broken"})
	wantCode(t, "GetPolicy after rejected put", err, codes.NotFound)
}

func TestAdminRejectsInvalidObjects(t *testing.T) {
	client := startAdminEtcd(t)
	ctx := adminContext(t)

	_, err := client.PutPolicy(ctx, &ecsauthzv1.PutPolicyRequest{Policy: &ecsauthzv1.Policy{
		Name: "ECS FullAccess", Document: `{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:*"]}]}`}})
	wantCode(t, "PutPolicy with a built-in name", err, codes.InvalidArgument)

	_, err = client.PutGrant(ctx, &ecsauthzv1.PutGrantRequest{Grant: &ecsauthzv1.Grant{Policy: "p", GroupId: "g", UserId: "u"}})
	st := status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "grant.group_id") || !strings.Contains(st.Message(), "grant.scope") {
		t.Errorf("PutGrant with user and group and no scope: %v, want InvalidArgument naming grant.group_id and grant.scope", err)
	}

	_, err = client.PutUser(ctx, &ecsauthzv1.PutUserRequest{User: &ecsauthzv1.User{Id: "u-1", Name: "one", DomainId: "d-1"}})
	if err != nil {
		t.Fatalf("PutUser: %v", err)
	}
	_, err = client.PutGrant(ctx, &ecsauthzv1.PutGrantRequest{Grant: &ecsauthzv1.Grant{Policy: "no-such-policy", UserId: "u-1", Scope: ecsauthzv1.GrantScope_GRANT_SCOPE_DOMAIN}})
	st = status.Convert(err)
	if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), `policy "no-such-policy" not found`) {
		t.Errorf("PutGrant of a missing policy = %v, want InvalidArgument saying the policy is not found", err)
	}

	_, err = client.PutUser(ctx, &ecsauthzv1.PutUserRequest{})
	wantCode(t, "PutUser without user", err, codes.InvalidArgument)

	_, err = client.ListUsers(ctx, &ecsauthzv1.ListUsersRequest{PageSize: 5000})
	wantCode(t, "ListUsers with page_size 5000", err, codes.InvalidArgument)
}

func TestAdminPolicyLifecycle(t *testing.T) {
	for _, backend := range adminBackends {
		t.Run(backend.name, func(t *testing.T) {
			testAdminPolicyLifecycle(t, backend.start(t))
		})
	}
}

func testAdminPolicyLifecycle(t *testing.T, client ecsauthzv1.PolicyAdminServiceClient) {
	ctx := adminContext(t)
	doc := `{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["ecs:cloudServers:delete"]}]}`

	created, err := client.PutPolicy(ctx, &ecsauthzv1.PutPolicyRequest{Policy: &ecsauthzv1.Policy{Name: "deny-delete", Description: "d1", Document: doc}})
	if err != nil {
		t.Fatalf("PutPolicy create: %v", err)
	}
	v1 := created.GetPolicy().GetVersion()
	if v1 <= 0 {
		t.Errorf("created version = %d, want > 0", v1)
	}

	_, err = client.PutPolicy(ctx, &ecsauthzv1.PutPolicyRequest{Policy: &ecsauthzv1.Policy{Name: "deny-delete", Document: doc}})
	wantCode(t, "PutPolicy create again", err, codes.Aborted)

	updated, err := client.PutPolicy(ctx, &ecsauthzv1.PutPolicyRequest{Policy: &ecsauthzv1.Policy{Name: "deny-delete", Description: "d2", Document: doc}, ExpectedVersion: v1})
	if err != nil {
		t.Fatalf("PutPolicy update: %v", err)
	}
	v2 := updated.GetPolicy().GetVersion()
	if v2 == v1 {
		t.Errorf("version after update = %d, want a new version", v2)
	}
	_, err = client.PutPolicy(ctx, &ecsauthzv1.PutPolicyRequest{Policy: &ecsauthzv1.Policy{Name: "deny-delete", Document: doc}, ExpectedVersion: v1})
	wantCode(t, "PutPolicy with stale version", err, codes.Aborted)

	got, err := client.GetPolicy(ctx, &ecsauthzv1.GetPolicyRequest{Name: "deny-delete"})
	if err != nil {
		t.Fatalf("GetPolicy: %v", err)
	}
	if got.GetPolicy().GetDescription() != "d2" || got.GetPolicy().GetVersion() != v2 {
		t.Errorf("GetPolicy = %v, want description d2 at version %d", got.GetPolicy(), v2)
	}
	if !strings.Contains(got.GetPolicy().GetDocument(), "ecs:cloudServers:delete") {
		t.Errorf("document = %q, want the stored document", got.GetPolicy().GetDocument())
	}

	list, err := client.ListPolicies(ctx, &ecsauthzv1.ListPoliciesRequest{})
	if err != nil {
		t.Fatalf("ListPolicies: %v", err)
	}
	if len(list.GetPolicies()) != 1 || list.GetNextPageToken() != "" {
		t.Errorf("ListPolicies = %v, want one policy and no next page", list)
	}

	_, err = client.DeletePolicy(ctx, &ecsauthzv1.DeletePolicyRequest{Name: "deny-delete", ExpectedVersion: v1})
	wantCode(t, "DeletePolicy with stale version", err, codes.Aborted)
	if _, err := client.DeletePolicy(ctx, &ecsauthzv1.DeletePolicyRequest{Name: "deny-delete", ExpectedVersion: v2}); err != nil {
		t.Fatalf("DeletePolicy: %v", err)
	}
	_, err = client.GetPolicy(ctx, &ecsauthzv1.GetPolicyRequest{Name: "deny-delete"})
	wantCode(t, "GetPolicy after delete", err, codes.NotFound)
	_, err = client.DeletePolicy(ctx, &ecsauthzv1.DeletePolicyRequest{Name: "deny-delete"})
	wantCode(t, "DeletePolicy again", err, codes.NotFound)
}

// TestAdminPrincipalsAndGrants writes a user, a group, a membership, a
// grant and a server through every remaining RPC.
func TestAdminPrincipalsAndGrants(t *testing.T) {
	for _, backend := range adminBackends {
		t.Run(backend.name, func(t *testing.T) {
			testAdminPrincipalsAndGrants(t, backend.start(t))
		})
	}
}

func testAdminPrincipalsAndGrants(t *testing.T, client ecsauthzv1.PolicyAdminServiceClient) {
	ctx := adminContext(t)
	must := func(step string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}

	_, err := client.PutUser(ctx, &ecsauthzv1.PutUserRequest{User: &ecsauthzv1.User{Id: "u-1", Name: "one", DomainId: "d-1", DomainName: "dom"}})
	must("PutUser", err)
	_, err = client.PutGroup(ctx, &ecsauthzv1.PutGroupRequest{Group: &ecsauthzv1.Group{Id: "g-1", Name: "readers", DomainId: "d-1"}})
	must("PutGroup", err)
	_, err = client.PutMembership(ctx, &ecsauthzv1.PutMembershipRequest{Membership: &ecsauthzv1.Membership{GroupId: "g-1", UserId: "u-1"}})
	must("PutMembership", err)
	grant := &ecsauthzv1.Grant{Policy: "ECS ReadOnlyAccess", GroupId: "g-1", Scope: ecsauthzv1.GrantScope_GRANT_SCOPE_PROJECT, ScopeId: "p-1"}
	_, err = client.PutGrant(ctx, &ecsauthzv1.PutGrantRequest{Grant: grant})
	must("PutGrant", err)
	_, err = client.PutServer(ctx, &ecsauthzv1.PutServerRequest{Server: &ecsauthzv1.Server{Id: "s-1", ProjectId: "p-1", EnterpriseProjectId: "0", Tags: map[string]string{"team": "dev"}}})
	must("PutServer", err)

	user, err := client.GetUser(ctx, &ecsauthzv1.GetUserRequest{Id: "u-1"})
	must("GetUser", err)
	if user.GetUser().GetDomainName() != "dom" {
		t.Errorf("GetUser = %v, want domain name dom", user.GetUser())
	}
	group, err := client.GetGroup(ctx, &ecsauthzv1.GetGroupRequest{Id: "g-1"})
	must("GetGroup", err)
	if group.GetGroup().GetName() != "readers" {
		t.Errorf("GetGroup = %v, want name readers", group.GetGroup())
	}
	_, err = client.GetMembership(ctx, &ecsauthzv1.GetMembershipRequest{GroupId: "g-1", UserId: "u-1"})
	must("GetMembership", err)
	gotGrant, err := client.GetGrant(ctx, &ecsauthzv1.GetGrantRequest{Policy: grant.Policy, GroupId: "g-1", Scope: grant.Scope, ScopeId: "p-1"})
	must("GetGrant", err)
	if gotGrant.GetGrant().GetScope() != ecsauthzv1.GrantScope_GRANT_SCOPE_PROJECT {
		t.Errorf("GetGrant = %v, want project scope", gotGrant.GetGrant())
	}
	server, err := client.GetServer(ctx, &ecsauthzv1.GetServerRequest{Id: "s-1"})
	must("GetServer", err)
	if server.GetServer().GetTags()["team"] != "dev" {
		t.Errorf("GetServer = %v, want tag team=dev", server.GetServer())
	}

	users, err := client.ListUsers(ctx, &ecsauthzv1.ListUsersRequest{})
	must("ListUsers", err)
	groups, err := client.ListGroups(ctx, &ecsauthzv1.ListGroupsRequest{})
	must("ListGroups", err)
	members, err := client.ListMemberships(ctx, &ecsauthzv1.ListMembershipsRequest{GroupId: "g-1"})
	must("ListMemberships", err)
	otherMembers, err := client.ListMemberships(ctx, &ecsauthzv1.ListMembershipsRequest{GroupId: "g-other"})
	must("ListMemberships other group", err)
	grants, err := client.ListGrants(ctx, &ecsauthzv1.ListGrantsRequest{Policy: "ECS ReadOnlyAccess"})
	must("ListGrants", err)
	servers, err := client.ListServers(ctx, &ecsauthzv1.ListServersRequest{})
	must("ListServers", err)
	counts := map[string]int{
		"users": len(users.GetUsers()), "groups": len(groups.GetGroups()), "memberships": len(members.GetMemberships()),
		"grants": len(grants.GetGrants()), "servers": len(servers.GetServers()),
	}
	for kind, n := range counts {
		if n != 1 {
			t.Errorf("List %s returned %d, want 1", kind, n)
		}
	}
	if n := len(otherMembers.GetMemberships()); n != 0 {
		t.Errorf("ListMemberships filtered by another group returned %d, want 0", n)
	}

	_, err = client.DeleteGrant(ctx, &ecsauthzv1.DeleteGrantRequest{Policy: grant.Policy, GroupId: "g-1", Scope: grant.Scope, ScopeId: "p-1"})
	must("DeleteGrant", err)
	_, err = client.DeleteMembership(ctx, &ecsauthzv1.DeleteMembershipRequest{GroupId: "g-1", UserId: "u-1"})
	must("DeleteMembership", err)
	_, err = client.DeleteServer(ctx, &ecsauthzv1.DeleteServerRequest{Id: "s-1"})
	must("DeleteServer", err)
	_, err = client.DeleteGroup(ctx, &ecsauthzv1.DeleteGroupRequest{Id: "g-1"})
	must("DeleteGroup", err)
	_, err = client.DeleteUser(ctx, &ecsauthzv1.DeleteUserRequest{Id: "u-1"})
	must("DeleteUser", err)

	_, err = client.GetGrant(ctx, &ecsauthzv1.GetGrantRequest{Policy: grant.Policy, GroupId: "g-1", Scope: grant.Scope, ScopeId: "p-1"})
	wantCode(t, "GetGrant after delete", err, codes.NotFound)
	_, err = client.GetUser(ctx, &ecsauthzv1.GetUserRequest{Id: "u-1"})
	wantCode(t, "GetUser after delete", err, codes.NotFound)
}

func TestAdminListPages(t *testing.T) {
	client := startAdminEtcd(t)
	ctx := adminContext(t)
	for i := range 5 {
		id := fmt.Sprintf("u-%d", i)
		if _, err := client.PutUser(ctx, &ecsauthzv1.PutUserRequest{User: &ecsauthzv1.User{Id: id, Name: "user " + id, DomainId: "d-1"}}); err != nil {
			t.Fatalf("PutUser %s: %v", id, err)
		}
	}

	var ids []string
	token := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatal("more pages than users")
		}
		resp, err := client.ListUsers(ctx, &ecsauthzv1.ListUsersRequest{PageSize: 2, PageToken: token})
		if err != nil {
			t.Fatalf("ListUsers page %d: %v", page, err)
		}
		if len(resp.GetUsers()) > 2 {
			t.Errorf("page %d has %d users, want at most 2", page, len(resp.GetUsers()))
		}
		for _, u := range resp.GetUsers() {
			ids = append(ids, u.GetId())
		}
		token = resp.GetNextPageToken()
		if token == "" {
			break
		}
	}
	if got := strings.Join(ids, ","); got != "u-0,u-1,u-2,u-3,u-4" {
		t.Errorf("paged ids = %s, want u-0 to u-4 in order", got)
	}

	_, err := client.ListUsers(ctx, &ecsauthzv1.ListUsersRequest{PageToken: "%%%"})
	wantCode(t, "ListUsers with a malformed token", err, codes.InvalidArgument)
}

func TestAdminFileStoreReadOnly(t *testing.T) {
	client := startAdmin(t, AdminOptions{
		Store:          store.NewFileStore("../examples/policies"),
		ValidatePolicy: validateForAdminTest,
		BearerToken:    adminTestToken,
	})
	ctx := adminContext(t)

	_, err := client.ListPolicies(ctx, &ecsauthzv1.ListPoliciesRequest{})
	wantCode(t, "ListPolicies", err, codes.FailedPrecondition)
	_, err = client.PutServer(ctx, &ecsauthzv1.PutServerRequest{Server: &ecsauthzv1.Server{Id: "s-9", ProjectId: "p"}})
	st := status.Convert(err)
	if st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "read-only") {
		t.Errorf("PutServer = %v, want FailedPrecondition saying read-only", err)
	}
}

func TestAdminMutualTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t)
	serverCert := ca.issue(t, "127.0.0.1", false)
	clientCert := ca.issue(t, "admin-client", true)
	writePEM(t, filepath.Join(dir, "ca.pem"), ca.certPEM)
	writePEM(t, filepath.Join(dir, "server.pem"), serverCert.certPEM)
	writePEM(t, filepath.Join(dir, "server-key.pem"), serverCert.keyPEM)

	conf := AdminConf{
		Enabled: true, Listen: "127.0.0.1:0",
		TLSCertFile: filepath.Join(dir, "server.pem"), TLSKeyFile: filepath.Join(dir, "server-key.pem"),
		ClientCAFile: filepath.Join(dir, "ca.pem"),
	}
	if err := conf.Validate(); err != nil {
		t.Fatalf("AdminConf.Validate: %v", err)
	}
	token, serverTLS, err := conf.Credentials()
	if err != nil {
		t.Fatalf("AdminConf.Credentials: %v", err)
	}
	opts := AdminOptions{Store: store.NewFileStore("../examples/policies"), ValidatePolicy: validateForAdminTest, BearerToken: token, TLS: serverTLS}

	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.certPEM)
	pair, err := tls.X509KeyPair(clientCert.certPEM, clientCert.keyPEM)
	if err != nil {
		t.Fatalf("client key pair: %v", err)
	}

	withCert := startAdmin(t, opts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}})))
	_, err = withCert.ListPolicies(apiTestContext(t), &ecsauthzv1.ListPoliciesRequest{})
	wantCode(t, "with client certificate", err, codes.FailedPrecondition) // authenticated; the file store is read-only

	withoutCert := startAdmin(t, opts, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{RootCAs: roots})))
	_, err = withoutCert.ListPolicies(apiTestContext(t), &ecsauthzv1.ListPoliciesRequest{})
	if code := status.Code(err); code != codes.Unavailable && code != codes.Unauthenticated {
		t.Errorf("without client certificate: code = %v, want Unavailable (handshake refused) or Unauthenticated", code)
	}
}

func TestAdminConfValidate(t *testing.T) {
	tests := []struct {
		name    string
		conf    AdminConf
		wantErr []string
	}{
		{name: "disabled", conf: AdminConf{}},
		{name: "token on loopback", conf: AdminConf{Enabled: true, BearerTokenFile: "token"}},
		{name: "no authentication", conf: AdminConf{Enabled: true}, wantErr: []string{"admin.bearer_token_file or admin.client_ca_file"}},
		{
			name:    "token on public address without TLS",
			conf:    AdminConf{Enabled: true, Listen: "0.0.0.0:9193", BearerTokenFile: "token"},
			wantErr: []string{"admin.listen", "not a loopback address"},
		},
		{
			name:    "client CA without server certificate",
			conf:    AdminConf{Enabled: true, ClientCAFile: "ca.pem", TLSKeyFile: "key.pem"},
			wantErr: []string{"admin.client_ca_file", "admin.tls_cert_file and admin.tls_key_file: set both"},
		},
		{name: "bad address", conf: AdminConf{Enabled: true, Listen: "nonsense", BearerTokenFile: "t"}, wantErr: []string{"admin.listen: invalid host:port"}},
		{name: "port out of range", conf: AdminConf{Enabled: true, Listen: "127.0.0.1:65536", BearerTokenFile: "t"}, wantErr: []string{`admin.listen: invalid host:port "127.0.0.1:65536": port "65536" must be a number from 0 to 65535`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.conf.SetDefaults()
			err := tt.conf.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Errorf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors containing %q", tt.wantErr)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
		})
	}
}

func TestNewAdminServerNeedsAuthentication(t *testing.T) {
	_, err := NewAdminServer(AdminOptions{Store: store.NewFileStore("."), ValidatePolicy: validateForAdminTest})
	if err == nil || !strings.Contains(err.Error(), "authentication is missing") {
		t.Errorf("NewAdminServer without credentials = %v, want an authentication error", err)
	}
}

// testCA issues certificates for the mutual TLS test.
type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

type testCert struct{ certPEM, keyPEM []byte }

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ecsauthz test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, template, template, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, certPEM: encodePEM("CERTIFICATE", der)}
}

func (ca *testCA) issue(t *testing.T, name string, client bool) testCert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	template := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if client {
		template.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	} else if ip := net.ParseIP(name); ip != nil {
		template.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, template, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testCert{certPEM: encodePEM("CERTIFICATE", der), keyPEM: encodePEM("PRIVATE KEY", keyDER)}
}

func writePEM(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func encodePEM(blockType string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: blockType, Bytes: der})
}

// TestAdminWriteReachesDecisions grants and revokes a policy through the
// admin API and waits for CheckActions to follow, with an etcd store
// watched by a Reloader as in the server.
func TestAdminWriteReachesDecisions(t *testing.T) {
	st := newEtcdStore(t)
	admin := startAdmin(t, AdminOptions{Store: st, ValidatePolicy: validateForAdminTest, BearerToken: adminTestToken})
	ctx := adminContext(t)
	if _, err := admin.PutUser(ctx, &ecsauthzv1.PutUserRequest{User: &ecsauthzv1.User{Id: "u-1", Name: "one", DomainId: "d-1"}}); err != nil {
		t.Fatalf("PutUser: %v", err)
	}

	cat, err := catalog.Load()
	if err != nil {
		t.Fatalf("catalog.Load: %v", err)
	}
	conf := evaluator.Config{Region: apiTestRegion}
	conf.SetDefaults()
	compile := func(snap *store.Snapshot) (*evaluator.Engine, error) {
		engine, _, err := evaluator.Compile(snap.Data, cat, conf)
		return engine, err
	}
	reloader, err := store.NewReloader(st, compile, store.ReloaderConfig{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("NewReloader: %v", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	t.Cleanup(stop)
	go func() { _ = reloader.Run(runCtx) }()

	api := startAPIWith(t, cat, func() (APIDecider, bool) {
		engine, ok := reloader.Current()
		if !ok || engine == nil {
			return nil, false
		}
		return engine, true
	}, reloader.Snapshot)

	check := &ecsauthzv1.CheckActionsRequest{Principal: userPrincipal("u-1"), Actions: []string{"ecs:cloudServers:list"}, ProjectId: "p-1"}
	waitForDecision(t, api, check, ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY)

	grant := &ecsauthzv1.Grant{Policy: "ECS ReadOnlyAccess", UserId: "u-1", Scope: ecsauthzv1.GrantScope_GRANT_SCOPE_PROJECT, ScopeId: "p-1"}
	if _, err := admin.PutGrant(ctx, &ecsauthzv1.PutGrantRequest{Grant: grant}); err != nil {
		t.Fatalf("PutGrant: %v", err)
	}
	waitForDecision(t, api, check, ecsauthzv1.DecisionReason_DECISION_REASON_ALLOWED)

	if _, err := admin.DeleteGrant(ctx, &ecsauthzv1.DeleteGrantRequest{Policy: grant.Policy, UserId: "u-1", Scope: grant.Scope, ScopeId: "p-1"}); err != nil {
		t.Fatalf("DeleteGrant: %v", err)
	}
	waitForDecision(t, api, check, ecsauthzv1.DecisionReason_DECISION_REASON_IMPLICIT_DENY)
}

// startAPIWith serves an API over the given catalog and policy source, with
// the example JWKS and a Checker for CheckHttp.
func startAPIWith(t *testing.T, cat *catalog.Catalog, policies func() (APIDecider, bool), snapshot func() *store.Snapshot) ecsauthzv1.AuthorizationServiceClient {
	t.Helper()
	var identityConf identity.Config
	identityConf.JWT.JWKSFile = "../examples/jwks/jwks.json"
	identityConf.SetDefaults()
	resolver, err := identity.New(identityConf)
	if err != nil {
		t.Fatalf("identity.New: %v", err)
	}
	t.Cleanup(func() { _ = resolver.Close() })

	checker, err := NewChecker(CheckerOptions{
		Catalog: cat, Identity: resolver, Region: apiTestRegion,
		Policies: func() (Decider, bool) { return policies() },
	})
	if err != nil {
		t.Fatalf("NewChecker: %v", err)
	}
	api, err := NewAPI(APIOptions{
		Catalog: cat, Identity: resolver, Policies: policies, Snapshot: snapshot,
		CheckHTTP: checker.CheckHTTP, Region: apiTestRegion,
	})
	if err != nil {
		t.Fatalf("NewAPI: %v", err)
	}
	s := grpc.NewServer()
	api.Register(s)
	return ecsauthzv1.NewAuthorizationServiceClient(serveLoopback(t, s))
}

// waitForDecision polls CheckActions until it returns the wanted reason,
// for at most 15 seconds: store changes reach decisions asynchronously.
func waitForDecision(t *testing.T, client ecsauthzv1.AuthorizationServiceClient, req *ecsauthzv1.CheckActionsRequest, want ecsauthzv1.DecisionReason) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last ecsauthzv1.DecisionReason
	for time.Now().Before(deadline) {
		resp, err := client.CheckActions(apiTestContext(t), req)
		if err != nil {
			t.Fatalf("CheckActions: %v", err)
		}
		last = resp.GetDecision().GetReason()
		if last == want {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("reason is still %v after 15s, want %v", last, want)
}
