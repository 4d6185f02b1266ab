// Command gen writes the example CheckRequests in examples/checkrequests/:
// one protojson file per case, shaped field for field like the requests
// Envoy's ext_authz filter sends (pseudo-headers, the raw path with its
// query, body or rawBody, the partial-body header, jwt_authn metadata).
// Tokens are minted with the example key in examples/jwks/ and expire in
// 2036, so the files stay valid as test fixtures and benchmark input.
//
// Run it from the repository root:
//
//	go run ./examples/checkrequests/gen
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ecsauthz/ecsauthz/identity"
)

// Example identifiers shared by the policy store, the JWKS and the tests.
const (
	project      = identity.ExampleProjectID
	otherProject = "1b2c3d4e5f60718293a4b5c6d7e8f90a"
	host         = "ecs.region-1.example.invalid"
)

// bodyEncoding selects how a case carries its body.
type bodyEncoding int

const (
	bodyString bodyEncoding = iota // attributes.request.http.body (string)
	bodyBytes                      // attributes.request.http.raw_body (pack_as_bytes)
)

// credential selects how a case identifies its caller.
type credential int

const (
	bearerToken  credential = iota // Authorization: Bearer <token>
	noCredential                   // no identity at all
	badToken                       // a token whose signature does not verify
	jwtAuthn                       // payload in jwt_authn metadata, no header
)

// checkCase is one example request.
type checkCase struct {
	name       string
	user       string // example user id, the JWT subject
	method     string
	path       string // raw request target, query included
	body       string
	encoding   bodyEncoding
	truncated  bool // Envoy cut the body at max_request_bytes
	credential credential
	// tokenProject overrides the token's project_id claim.
	tokenProject string
}

// cases lists every example. The name says what the case exercises and the
// expected outcome; the responses themselves are recorded by the end-to-end
// test's golden files.
func cases() []checkCase {
	const (
		v1       = "/v1/" + project
		v21      = "/v2.1/" + project
		createVM = `{"server":{"availability_zone":"region-1a","name":"example-vm-01","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","root_volume":{"volumetype":"SSD","size":40},"vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"count":1}}`
		newEIP   = `{"server":{"availability_zone":"region-1a","name":"example-vm-02","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"publicip":{"eip":{"iptype":"5_bgp","bandwidth":{"size":10,"sharetype":"PER","chargemode":"traffic"}}},"count":1}}`
		oldEIP   = `{"server":{"availability_zone":"region-1a","name":"example-vm-03","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"publicip":{"id":"4f8ff9cc-7c2e-4a1e-9b34-1f5b0c1e2d3a"},"count":1}}`
		bothEIP  = `{"server":{"availability_zone":"region-1a","name":"example-vm-04","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"publicip":{"id":"4f8ff9cc-7c2e-4a1e-9b34-1f5b0c1e2d3a","eip":{"iptype":"5_bgp","bandwidth":{"size":10,"sharetype":"PER","chargemode":"traffic"}}},"count":1}}`
		epCreate = `{"server":{"availability_zone":"region-1a","name":"dev-vm-01","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"count":1,"extendparam":{"enterprise_project_id":"ep-dev-0001"}}}`
		deleteS1 = `{"servers":[{"id":"s-0001"}],"delete_publicip":false,"delete_volume":false}`
		updateS1 = `{"server":{"name":"example-vm-01-renamed"}}`
		novaVM   = `{"server":{"name":"example-vm-05","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","availability_zone":"region-1a","networks":[{"uuid":"27f36d90-fce4-5f66-8178-233c188536ee"}]}}`
		novaBoot = `{"server":{"name":"example-vm-06","flavorRef":"s6.small.1","availability_zone":"region-1a","networks":[{"uuid":"27f36d90-fce4-5f66-8178-233c188536ee"}],"block_device_mapping_v2":[{"source_type":"image","destination_type":"volume","uuid":"660fcb02-ce89-518c-8f1e-85d896d3c93e","boot_index":0,"volume_size":40}]}}`
		novaPut  = `{"server":{"name":"example-vm-01-renamed"}}`
	)

	return []checkCase{
		// The twelve seed routes, each with an allowed and a denied caller.
		{name: "v1-create-allowed-alice", user: "u-0001", method: "POST", path: v1 + "/cloudservers", body: createVM},
		{name: "v1-create-denied-viewer", user: "u-0002", method: "POST", path: v1 + "/cloudservers", body: createVM},
		{name: "v1-delete-allowed-alice", user: "u-0001", method: "POST", path: v1 + "/cloudservers/delete", body: deleteS1},
		{name: "v1-delete-denied-bob-explicit", user: "u-0003", method: "POST", path: v1 + "/cloudservers/delete", body: deleteS1},
		{name: "v1-list-detail-allowed-viewer", user: "u-0002", method: "GET", path: v1 + "/cloudservers/detail?limit=25&offset=1"},
		{name: "v1-list-detail-denied-dave", user: "u-0005", method: "GET", path: v1 + "/cloudservers/detail?limit=25"},
		{name: "v1-get-allowed-viewer", user: "u-0002", method: "GET", path: v1 + "/cloudservers/s-0001"},
		{name: "v1-get-denied-dave", user: "u-0005", method: "GET", path: v1 + "/cloudservers/s-0001"},
		{name: "v1-update-allowed-alice", user: "u-0001", method: "PUT", path: v1 + "/cloudservers/s-0001", body: updateS1},
		{name: "v1-update-denied-viewer", user: "u-0002", method: "PUT", path: v1 + "/cloudservers/s-0001", body: updateS1},
		{name: "v21-list-detail-allowed-alice", user: "u-0001", method: "GET", path: v21 + "/servers/detail?limit=25"},
		{name: "v21-list-detail-denied-dave", user: "u-0005", method: "GET", path: v21 + "/servers/detail?limit=25"},
		{name: "v21-list-allowed-alice", user: "u-0001", method: "GET", path: v21 + "/servers"},
		{name: "v21-list-denied-dave", user: "u-0005", method: "GET", path: v21 + "/servers"},
		{name: "v21-get-allowed-alice", user: "u-0001", method: "GET", path: v21 + "/servers/s-0001"},
		{name: "v21-get-denied-dave", user: "u-0005", method: "GET", path: v21 + "/servers/s-0001"},
		{name: "v21-create-allowed-alice", user: "u-0001", method: "POST", path: v21 + "/servers", body: novaVM},
		{name: "v21-create-denied-viewer", user: "u-0002", method: "POST", path: v21 + "/servers", body: novaVM},
		{name: "v21-boot-volume-allowed-alice", user: "u-0001", method: "POST", path: v21 + "/os-volumes_boot", body: novaBoot},
		{name: "v21-boot-volume-denied-viewer", user: "u-0002", method: "POST", path: v21 + "/os-volumes_boot", body: novaBoot},
		{name: "v21-delete-allowed-alice", user: "u-0001", method: "DELETE", path: v21 + "/servers/s-0001"},
		{name: "v21-delete-denied-viewer", user: "u-0002", method: "DELETE", path: v21 + "/servers/s-0001"},
		// deny-server-delete names ecs:cloudServers:delete, the /v1 action
		// and its alias; the /v2.1 route requires ecs:servers:delete.
		{name: "v21-delete-allowed-bob", user: "u-0003", method: "DELETE", path: v21 + "/servers/s-0001"},
		{name: "v21-update-allowed-alice", user: "u-0001", method: "PUT", path: v21 + "/servers/s-0001", body: novaPut},
		{name: "v21-update-denied-viewer", user: "u-0002", method: "PUT", path: v21 + "/servers/s-0001", body: novaPut},

		// Creating a server with an elastic IP: new, existing, both.
		{name: "eip-new-allowed-alice", user: "u-0001", method: "POST", path: v1 + "/cloudservers", body: newEIP, encoding: bodyBytes},
		{name: "eip-existing-allowed-alice", user: "u-0001", method: "POST", path: v1 + "/cloudservers", body: oldEIP, encoding: bodyBytes},
		{name: "eip-both-allowed-alice", user: "u-0001", method: "POST", path: v1 + "/cloudservers", body: bothEIP, encoding: bodyBytes},
		{name: "eip-new-denied-viewer", user: "u-0002", method: "POST", path: v1 + "/cloudservers", body: newEIP, encoding: bodyBytes},

		// An enterprise-project grant applies on /v1 routes and not on /v2.1.
		{name: "ep-v1-get-allowed-carol", user: "u-0004", method: "GET", path: v1 + "/cloudservers/s-0002"},
		{name: "ep-v1-create-allowed-carol", user: "u-0004", method: "POST", path: v1 + "/cloudservers", body: epCreate},
		{name: "ep-v1-get-other-ep-denied-carol", user: "u-0004", method: "GET", path: v1 + "/cloudservers/s-0001"},
		{name: "ep-v21-get-denied-carol", user: "u-0004", method: "GET", path: v21 + "/servers/s-0002"},
		{name: "ep-v1-list-all-granted-carol", user: "u-0004", method: "GET", path: v1 + "/cloudservers/detail?limit=25&enterprise_project_id=all_granted_eps"},

		// Identity sources and failures.
		{name: "jwt-authn-metadata-list-allowed-viewer", user: "u-0002", method: "GET", path: v1 + "/cloudservers/detail?limit=25&enterprise_project_id=all_granted_eps", credential: jwtAuthn},
		{name: "root-other-project-allowed", user: "u-0000", method: "GET", path: "/v1/" + otherProject + "/cloudservers/s-0003", tokenProject: otherProject},
		{name: "project-mismatch-denied-alice", user: "u-0001", method: "GET", path: "/v1/" + otherProject + "/cloudservers/s-0003"},
		{name: "bad-token-denied", user: "u-0001", method: "GET", path: v1 + "/cloudservers/s-0001", credential: badToken},
		{name: "no-token-denied", method: "GET", path: v1 + "/cloudservers/s-0001", credential: noCredential},

		// Malformed and unknown requests.
		{name: "truncated-body-denied", user: "u-0001", method: "POST", path: v1 + "/cloudservers", body: createVM[:120], truncated: true},
		{name: "unknown-route-denied", user: "u-0001", method: "GET", path: v1 + "/cloudservers/s-0001/no-such-thing"},
		{name: "malformed-path-dot-segment-denied", user: "u-0001", method: "GET", path: v1 + "/cloudservers/%2e%2e/detail"},
		{name: "malformed-path-double-slash-denied", user: "u-0001", method: "GET", path: v1 + "//cloudservers/detail"},
	}
}

func main() {
	out := flag.String("out", "examples/checkrequests", "directory to write the protojson files to")
	key := flag.String("key", "examples/jwks/private.jwk.json", "example private JWK that signs the tokens")
	flag.Parse()

	signer, err := newTokenSigner(*key)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range cases() {
		data, err := render(c, signer)
		if err != nil {
			log.Fatalf("failed to render case %s: %v", c.name, err)
		}
		path := filepath.Join(*out, c.name+".json")
		if err := os.WriteFile(path, data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Printf("wrote %d CheckRequests to %s\n", len(cases()), *out)
}

// requestTime is the fixed receive time of every example, so the files are
// reproducible.
var requestTime = time.Date(2026, 12, 4, 12, 0, 1, 123456000, time.UTC)

// render builds the CheckRequest of one case and returns it as indented
// protojson with a trailing newline.
func render(c checkCase, signer *tokenSigner) ([]byte, error) {
	headers := map[string]string{
		":authority":                     host,
		":method":                        c.method,
		":path":                          c.path,
		":scheme":                        "https",
		"accept":                         "application/json",
		"user-agent":                     "example-client/1.0",
		"x-forwarded-for":                "192.0.2.11",
		"x-forwarded-proto":              "https",
		"x-request-id":                   requestID(c.name),
		"x-envoy-expected-rq-timeout-ms": "15000",
	}
	http := &authv3.AttributeContext_HttpRequest{
		Id:       "1000001",
		Method:   c.method,
		Headers:  headers,
		Path:     c.path,
		Host:     host,
		Scheme:   "https",
		Protocol: "HTTP/1.1",
	}
	if c.body != "" {
		size := len(c.body)
		if c.truncated {
			size = 430 // the full body Envoy did not buffer
			headers["x-envoy-auth-partial-body"] = "true"
		}
		headers["content-type"] = "application/json;charset=UTF-8"
		headers["content-length"] = strconv.Itoa(size)
		http.Size = int64(size)
		if c.encoding == bodyBytes {
			http.RawBody = []byte(c.body)
		} else {
			http.Body = c.body
		}
	}

	attrs := &authv3.AttributeContext{
		Source: &authv3.AttributeContext_Peer{
			Address: socketAddress("192.0.2.11", 40001),
		},
		Destination: &authv3.AttributeContext_Peer{
			Address:   socketAddress("127.0.0.1", 8443),
			Principal: "spiffe://example.invalid/ns/ecs/sa/ecs-api",
		},
		Request: &authv3.AttributeContext_Request{
			Time: timestamppb.New(requestTime),
			Http: http,
		},
		ContextExtensions: map[string]string{"virtual_host": "ecs-api"},
	}
	if err := addCredential(c, signer, headers, attrs); err != nil {
		return nil, err
	}

	data, err := protojson.Marshal(&authv3.CheckRequest{Attributes: attrs})
	if err != nil {
		return nil, err
	}
	// protojson varies its whitespace on purpose; re-indenting makes the
	// output byte-stable.
	var indented bytes.Buffer
	if err := json.Indent(&indented, data, "", "  "); err != nil {
		return nil, err
	}
	indented.WriteByte('\n')
	return indented.Bytes(), nil
}

func addCredential(c checkCase, signer *tokenSigner, headers map[string]string, attrs *authv3.AttributeContext) error {
	if c.credential == noCredential {
		return nil
	}
	token, err := signer.mint(c)
	if err != nil {
		return err
	}

	switch c.credential {
	case jwtAuthn:
		claims, err := tokenPayload(token)
		if err != nil {
			return err
		}
		payload, err := structpb.NewStruct(claims)
		if err != nil {
			return err
		}
		attrs.MetadataContext = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			"envoy.filters.http.jwt_authn": {Fields: map[string]*structpb.Value{
				"jwt_payload": structpb.NewStructValue(payload),
			}},
		}}
	case badToken:
		headers["authorization"] = "Bearer " + corruptSignature(token)
	default:
		headers["authorization"] = "Bearer " + token
	}
	return nil
}

// corruptSignature flips bits in the token's signature, so the header and
// payload still parse but verification fails.
func corruptSignature(token string) string {
	dot := strings.LastIndexByte(token, '.')
	sig, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil || len(sig) == 0 {
		return token + "x"
	}
	sig[0] ^= 0xff
	return token[:dot+1] + base64.RawURLEncoding.EncodeToString(sig)
}

func socketAddress(address string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       address,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

// requestID derives a stable x-request-id from the case name.
func requestID(name string) string {
	var sum uint64 = 14695981039346656037
	for i := 0; i < len(name); i++ {
		sum ^= uint64(name[i])
		sum *= 1099511628211
	}
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", uint32(sum>>32), uint16(sum>>16), uint16(sum)&0xfff, uint16(sum>>20)&0xfff, sum&0xffffffffffff)
}
