// Command noop is an ext_authz server that allows every request without
// looking at it. It measures the cost of the gRPC round trip alone, the
// ceiling for any authorization server on the same machine.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/ecsauthz/ecsauthz/bench/internal/grpcserve"
)

// allowAll returns the same preallocated OK response for every Check.
type allowAll struct {
	authv3.UnimplementedAuthorizationServer
	response *authv3.CheckResponse
}

var _ authv3.AuthorizationServer = (*allowAll)(nil)

func (a *allowAll) Check(context.Context, *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	return a.response, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9291", "gRPC listen address (host:port)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("server", "noop")
	server := &allowAll{response: &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}}
	if err := grpcserve.Run(*addr, server, logger); err != nil {
		logger.Error("server failed", "error", err)
		os.Exit(1)
	}
}
