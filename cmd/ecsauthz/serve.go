package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/ecsauthz/ecsauthz/server"
)

// runServe runs the gRPC Authorization service until SIGINT or SIGTERM.
func runServe(ctx context.Context, args []string, _, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: ecsauthz serve [flags]")
		fmt.Fprintln(stderr)
		fmt.Fprintln(stderr, "Serves envoy.service.auth.v3.Authorization, gRPC health and reflection on")
		fmt.Fprintln(stderr, "-grpc-address, and /metrics, /healthz and /readyz on -http-address.")
		fmt.Fprintln(stderr, "Each flag overrides its ECSAUTHZ_* environment variable, which overrides the")
		fmt.Fprintln(stderr, "-config file. Flags:")
		fs.PrintDefaults()
	}
	flags := server.NewConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "ecsauthz serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	conf, err := flags.Load(os.LookupEnv)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz serve: %v\n", err)
		return 2
	}
	logger, err := server.NewLogger(conf.Log, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz serve: %v\n", err)
		return 2
	}

	logger.Info("starting", "version", buildVersion(), "store_backend", conf.Store.Backend)
	svc, err := server.NewService(ctx, conf, buildVersion(), logger)
	if err != nil {
		logger.Error("failed to start", "error", err)
		return 1
	}
	if err := svc.Run(ctx); err != nil {
		logger.Error("server failed", "error", err)
		return 1
	}
	return 0
}
