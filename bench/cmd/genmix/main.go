// Command genmix writes the benchmark's fallback request mix: Envoy-shaped
// CheckRequests in protojson for every ECS lifecycle route, allowed and
// denied, with the caller in the jwt_authn filter metadata. The runner uses
// examples/checkrequests when it exists and this mix otherwise.
//
//	go run ./cmd/genmix -out testdata/mix
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// requestTime is the fixed request time of every file, so the mix is
// reproducible.
var requestTime = time.Date(2026, 12, 4, 12, 0, 1, 123456000, time.UTC)

const (
	projectID      = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	otherProjectID = "1b2c3d4e5f60718293a4b5c6d7e8f90a"
	domainID       = "d0000000000000000000000000000001"
	authority      = "ecs.region-1.example.invalid"
)

// user is an example identity as the jwt_authn filter would pass it on.
type user struct {
	id, name string
}

var (
	root     = user{"u-0000", "domain-admin"}
	alice    = user{"u-0001", "admin-alice"}
	viewer   = user{"u-0002", "viewer"}
	bob      = user{"u-0003", "operator-bob"}
	carol    = user{"u-0004", "ep-dev-carol"}
	dave     = user{"u-0005", "no-grants-dave"}
	eipNew   = `{"server":{"availability_zone":"region-1a","name":"bench-vm-01","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","root_volume":{"volumetype":"SSD","size":40},"vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"publicip":{"eip":{"iptype":"5_bgp","bandwidth":{"size":10,"sharetype":"PER","chargemode":"traffic"}}},"count":1,"key_name":"bench-key"}}`
	eipBound = `{"server":{"availability_zone":"region-1a","name":"bench-vm-02","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","root_volume":{"volumetype":"SSD","size":40},"vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"publicip":{"id":"f588ccfa-8750-4d7c-bf5d-2ede24414706"},"count":1}}`
	noEIPDev = `{"server":{"availability_zone":"region-1a","name":"bench-vm-03","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","root_volume":{"volumetype":"SSD","size":40},"vpcid":"d317b7ce-5cff-5365-8c91-672699605a21","nics":[{"subnet_id":"27f36d90-fce4-5f66-8178-233c188536ee"}],"count":1,"extendparam":{"enterprise_project_id":"ep-dev-0001"}}}`
	batch    = `{"servers":[{"id":"s-0001"}],"delete_publicip":false,"delete_volume":false}`
	novaBoot = `{"server":{"name":"bench-vm-04","imageRef":"660fcb02-ce89-518c-8f1e-85d896d3c93e","flavorRef":"s6.small.1","networks":[{"uuid":"27f36d90-fce4-5f66-8178-233c188536ee"}]}}`
	novaPut  = `{"server":{"name":"bench-vm-renamed"}}`
	v1Put    = `{"server":{"name":"bench-vm-renamed"}}`
)

// request is one file of the mix.
type request struct {
	file   string
	method string
	path   string
	body   string
	raw    bool // send the body as raw_body bytes, as with pack_as_bytes
	caller user
	proj   string // token project; empty means the example project
}

func mixRequests() []request {
	p := "/v1/" + projectID
	n := "/v2.1/" + projectID
	return []request{
		{"v1-create-new-eip-alice-allow", "POST", p + "/cloudservers", eipNew, true, alice, ""},
		{"v1-create-new-eip-viewer-deny", "POST", p + "/cloudservers", eipNew, true, viewer, ""},
		{"v1-create-bound-eip-alice-allow", "POST", p + "/cloudservers", eipBound, false, alice, ""},
		{"v1-create-ep-dev-carol-allow", "POST", p + "/cloudservers", noEIPDev, true, carol, ""},
		{"v1-delete-alice-allow", "POST", p + "/cloudservers/delete", batch, false, alice, ""},
		{"v1-delete-bob-deny", "POST", p + "/cloudservers/delete", batch, false, bob, ""},
		{"v1-list-viewer-allow", "GET", p + "/cloudservers/detail?limit=25", "", false, viewer, ""},
		{"v1-list-dave-deny", "GET", p + "/cloudservers/detail?limit=25", "", false, dave, ""},
		{"v1-get-viewer-allow", "GET", p + "/cloudservers/s-0001", "", false, viewer, ""},
		{"v1-get-ep-dev-carol-allow", "GET", p + "/cloudservers/s-0002", "", false, carol, ""},
		{"v1-get-ep-default-carol-deny", "GET", p + "/cloudservers/s-0001", "", false, carol, ""},
		{"v1-put-alice-allow", "PUT", p + "/cloudservers/s-0001", v1Put, false, alice, ""},
		{"v1-put-viewer-deny", "PUT", p + "/cloudservers/s-0001", v1Put, false, viewer, ""},
		{"v21-list-detail-alice-allow", "GET", n + "/servers/detail", "", false, alice, ""},
		{"v21-list-detail-viewer-deny", "GET", n + "/servers/detail", "", false, viewer, ""},
		{"v21-list-viewer-allow", "GET", n + "/servers", "", false, viewer, ""},
		{"v21-get-alice-allow", "GET", n + "/servers/s-0001", "", false, alice, ""},
		{"v21-get-ep-dev-carol-deny", "GET", n + "/servers/s-0002", "", false, carol, ""},
		{"v21-create-alice-allow", "POST", n + "/servers", novaBoot, false, alice, ""},
		{"v21-create-viewer-deny", "POST", n + "/servers", novaBoot, false, viewer, ""},
		{"v21-boot-volume-bob-allow", "POST", n + "/os-volumes_boot", novaBoot, false, bob, ""},
		{"v21-delete-bob-allow", "DELETE", n + "/servers/s-0001", "", false, bob, ""},
		{"v21-delete-dave-deny", "DELETE", n + "/servers/s-0001", "", false, dave, ""},
		{"v21-put-alice-allow", "PUT", n + "/servers/s-0001", novaPut, false, alice, ""},
		{"v21-put-viewer-deny", "PUT", n + "/servers/s-0001", novaPut, false, viewer, ""},
		{"v1-get-root-other-project-allow", "GET", "/v1/" + otherProjectID + "/cloudservers/s-0003", "", false, root, otherProjectID},
		{"v1-get-alice-project-mismatch-deny", "GET", "/v1/" + otherProjectID + "/cloudservers/s-0003", "", false, alice, ""},
		{"v1-unknown-route-deny", "GET", p + "/cloudservers/s-0001/unknown", "", false, alice, ""},
	}
}

func main() {
	out := flag.String("out", "testdata/mix", "directory to write the CheckRequest files to")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "genmix:", err)
		os.Exit(1)
	}
	marshal := protojson.MarshalOptions{Multiline: true, Indent: "  "}
	for _, r := range mixRequests() {
		data, err := marshal.Marshal(build(r))
		if err != nil {
			fmt.Fprintf(os.Stderr, "genmix: failed to encode %s: %v\n", r.file, err)
			os.Exit(1)
		}
		path := filepath.Join(*out, r.file+".json")
		if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "genmix:", err)
			os.Exit(1)
		}
	}
}

// build returns the CheckRequest Envoy would send for r with
// with_request_body on and jwt_authn's payload_in_metadata set to jwt_payload.
func build(r request) *authv3.CheckRequest {
	tokenProject := r.proj
	if tokenProject == "" {
		tokenProject = projectID
	}
	headers := map[string]string{
		":authority":                     authority,
		":method":                        r.method,
		":path":                          r.path,
		":scheme":                        "https",
		"accept":                         "application/json",
		"user-agent":                     "example-client/1.0",
		"x-forwarded-for":                "192.0.2.11",
		"x-forwarded-proto":              "https",
		"x-request-id":                   "2efd2289-9479-5f47-a776-94cdbae63838",
		"x-envoy-expected-rq-timeout-ms": "15000",
	}
	http := &authv3.AttributeContext_HttpRequest{
		Id:       "1000001",
		Method:   r.method,
		Headers:  headers,
		Path:     r.path,
		Host:     authority,
		Scheme:   "https",
		Protocol: "HTTP/1.1",
	}
	if r.body != "" {
		headers["content-type"] = "application/json;charset=UTF-8"
		headers["content-length"] = fmt.Sprint(len(r.body))
		http.Size = int64(len(r.body))
		if r.raw {
			http.RawBody = []byte(r.body)
		} else {
			http.Body = r.body
		}
	}
	payload, err := structpb.NewStruct(map[string]any{
		"iss":          "https://iam.example.invalid/v3",
		"sub":          r.caller.id,
		"aud":          "ecs",
		"exp":          2114380800, // 2037-01-01T00:00:00Z
		"name":         r.caller.name,
		"domain_id":    domainID,
		"domain_name":  "example-domain",
		"project_id":   tokenProject,
		"project_name": projectName(tokenProject),
	})
	if err != nil {
		panic(err) // The literal above contains only JSON-compatible values.
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
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
		MetadataContext: &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{
			"envoy.filters.http.jwt_authn": {Fields: map[string]*structpb.Value{
				"jwt_payload": structpb.NewStructValue(payload),
			}},
		}},
	}}
}

func projectName(id string) string {
	if id == otherProjectID {
		return "region-1_other"
	}
	return "region-1"
}

func socketAddress(ip string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Address:       ip,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}
