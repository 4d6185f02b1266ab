package store

import (
	"flag"
	"log/slog"
	"os"
	"testing"

	"github.com/ecsauthz/ecsauthz/store/storetest"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if !testing.Verbose() {
		// Reloads log every snapshot; keep test output to the failures.
		slog.SetDefault(slog.New(slog.DiscardHandler))
	}
	os.Exit(storetest.RunMain(m))
}
