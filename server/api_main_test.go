package server

import (
	"os"
	"testing"

	"github.com/ecsauthz/ecsauthz/store/storetest"
)

// TestMain lets the tests of this package share one PostgreSQL server,
// which storetest starts on first use and stops after the last test.
func TestMain(m *testing.M) {
	os.Exit(storetest.RunMain(m))
}
