package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ecsauthz/ecsauthz/catalog"
	"github.com/ecsauthz/ecsauthz/evaluator"
	"github.com/ecsauthz/ecsauthz/identity"
	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
	"github.com/ecsauthz/ecsauthz/server"
	"github.com/ecsauthz/ecsauthz/store"
)

// TestRunAgainstServer runs the example against the direct API on a
// loopback listener with the example policy store.
func TestRunAgainstServer(t *testing.T) {
	cat, err := catalog.Load()
	if err != nil {
		t.Fatal(err)
	}
	snap, err := store.NewFileStore("../policies").Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conf := evaluator.Config{Region: "region-1"}
	conf.SetDefaults()
	engine, _, err := evaluator.Compile(snap.Data, cat, conf)
	if err != nil {
		t.Fatal(err)
	}
	var identityConf identity.Config
	identityConf.JWT.JWKSFile = "../jwks/jwks.json"
	identityConf.SetDefaults()
	resolver, err := identity.New(identityConf)
	if err != nil {
		t.Fatal(err)
	}
	defer resolver.Close()

	checker, err := server.NewChecker(server.CheckerOptions{
		Catalog: cat, Identity: resolver, Region: "region-1",
		Policies: func() (server.Decider, bool) { return engine, true },
	})
	if err != nil {
		t.Fatal(err)
	}
	api, err := server.NewAPI(server.APIOptions{
		Catalog: cat, Identity: resolver, Region: "region-1", CheckHTTP: checker.CheckHTTP,
		Policies: func() (server.APIDecider, bool) { return engine, true },
		Snapshot: func() *store.Snapshot { return snap },
	})
	if err != nil {
		t.Fatal(err)
	}

	s := grpc.NewServer()
	api.Register(s)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(lis) }()
	defer s.Stop()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	err = run(ctx, ecsauthzv1.NewAuthorizationServiceClient(conn), "u-0002", "0a1b2c3d4e5f60718293a4b5c6d7e8f9",
		[]string{"ecs:cloudServers:list", "ecs:cloudServers:delete"}, &out)
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	for _, want := range []string{
		"CheckActions: allowed=false reason=DECISION_REASON_IMPLICIT_DENY denied_action=\"ecs:cloudServers:delete\"",
		"route=/v1/{project_id}/cloudservers/action actions=ecs:cloudServers:reboot",
		"GET    /v1/{project_id}/cloudservers/detail",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
