// Command regopeer is the benchmark's OPA peer: an ext_authz server that
// evaluates a Rego policy over the same routes and example policy store as
// ecsauthz, so the two can be compared under the same load.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"

	"github.com/ecsauthz/ecsauthz/bench/internal/grpcserve"
	"github.com/ecsauthz/ecsauthz/bench/internal/regopeer"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9391", "gRPC listen address (host:port)")
	dataPath := flag.String("data", "", "peer data file (routes and policy store as JSON); empty uses the built-in example data")
	jwksPath := flag.String("jwks", "", "JWKS file that verifies bearer tokens; empty decodes token payloads without verifying them")
	issuer := flag.String("issuer", "https://iam.example.invalid/v3", "required token issuer (iss)")
	audience := flag.String("audience", "ecs", "required token audience (aud)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("server", "regopeer")
	data := regopeer.DefaultData
	if *dataPath != "" {
		var err error
		if data, err = os.ReadFile(*dataPath); err != nil {
			logger.Error("failed to read data file", "path", *dataPath, "error", err)
			os.Exit(1)
		}
	}
	opts := regopeer.Options{Issuer: *issuer, Audience: *audience}
	if *jwksPath != "" {
		var err error
		if opts.JWKS, err = os.ReadFile(*jwksPath); err != nil {
			logger.Error("failed to read JWKS file", "path", *jwksPath, "error", err)
			os.Exit(1)
		}
	}
	peer, err := regopeer.New(context.Background(), data, opts)
	if err != nil {
		logger.Error("failed to load policy", "error", err)
		os.Exit(1)
	}
	register := func(s *grpc.Server) { authv3.RegisterAuthorizationServer(s, peer) }
	if err := grpcserve.Run(*addr, register, logger); err != nil {
		logger.Error("server failed", "error", err)
		os.Exit(1)
	}
}
