// Command noop is an ext_authz server that allows every request without
// looking at it. It measures the cost of the gRPC round trip alone, the
// ceiling for any authorization server on the same machine.
//
// By default it does not even decode the CheckRequest: a server codec hands
// the Check handler nothing and sends a response encoded once at startup.
// With -decode it decodes each request with the standard protobuf codec, as
// a server built on the generated Envoy types does.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

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

// skippedRequest is the empty target that the raw Check handler decodes a
// request into, so the codec reads none of its bytes.
type skippedRequest struct{}

// encodedResponse is a CheckResponse already in wire format.
type encodedResponse struct {
	wire []byte
}

// rawCodec skips Check requests and sends encoded responses as they are.
// Every other message, such as gRPC health, goes through the standard
// protobuf codec.
type rawCodec struct {
	proto encoding.CodecV2
}

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if response, ok := v.(*encodedResponse); ok {
		return mem.BufferSlice{mem.SliceBuffer(response.wire)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if _, ok := v.(*skippedRequest); ok {
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (rawCodec) Name() string { return "proto" }

// rawAuthorization is the Authorization service description with a Check
// handler that neither decodes the request nor encodes the response.
func rawAuthorization(response *encodedResponse) grpc.ServiceDesc {
	handler := func(_ any, _ context.Context, decode func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
		if err := decode(&skippedRequest{}); err != nil {
			return nil, err
		}
		return response, nil
	}
	return grpc.ServiceDesc{
		ServiceName: "envoy.service.auth.v3.Authorization",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Check", Handler: handler}},
		Metadata:    "envoy/service/auth/v3/external_auth.proto",
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9291", "gRPC listen address (host:port)")
	decodeRequests := flag.Bool("decode", false, "decode every CheckRequest with the standard protobuf codec")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("server", "noop")
	response := &authv3.CheckResponse{
		Status:       &status.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{}},
	}
	if err := run(*addr, *decodeRequests, response, logger); err != nil {
		logger.Error("server failed", "error", err)
		os.Exit(1)
	}
}

func run(addr string, decodeRequests bool, response *authv3.CheckResponse, logger *slog.Logger) error {
	if decodeRequests {
		return grpcserve.Run(addr, func(s *grpc.Server) {
			authv3.RegisterAuthorizationServer(s, &allowAll{response: response})
		}, logger)
	}

	wire, err := proto.Marshal(response)
	if err != nil {
		return fmt.Errorf("failed to encode the OK response: %w", err)
	}
	desc := rawAuthorization(&encodedResponse{wire: wire})
	codec := rawCodec{proto: encoding.GetCodecV2("proto")}
	return grpcserve.Run(addr, func(s *grpc.Server) { s.RegisterService(&desc, struct{}{}) }, logger,
		grpc.ForceServerCodecV2(codec))
}
