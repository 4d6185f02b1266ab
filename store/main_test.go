package store

import (
	"os"
	"testing"

	"github.com/ecsauthz/ecsauthz/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.RunMain(m)) }
