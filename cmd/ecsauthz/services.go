package main

import (
	"log/slog"

	"github.com/ecsauthz/ecsauthz/server"
)

// registerServices adds the gRPC services served beside the Envoy
// Authorization service.
func registerServices(svc *server.Service, conf *server.Config, logger *slog.Logger) error {
	return nil
}
