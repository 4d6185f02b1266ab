package server

import (
	"context"
	"testing"

	"google.golang.org/grpc"

	ecsauthzv1 "github.com/ecsauthz/ecsauthz/proto/gen/ecsauthz/v1"
)

// BenchmarkAPICheckActions measures one CheckActions decision with the
// example store: in process (handler only) and over a loopback gRPC
// connection.
func BenchmarkAPICheckActions(b *testing.B) {
	api, _ := newTestAPI(b)
	req := &ecsauthzv1.CheckActionsRequest{
		Principal: userPrincipal("u-0003"),
		Actions:   []string{"ecs:cloudServers:list", "ecs:cloudServers:delete"},
		ProjectId: apiTestProject,
	}
	ctx := context.Background()

	b.Run("handler", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := api.CheckActions(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("loopback-grpc", func(b *testing.B) {
		s := grpc.NewServer()
		api.Register(s)
		client := ecsauthzv1.NewAuthorizationServiceClient(serveLoopback(b, s))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := client.CheckActions(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
