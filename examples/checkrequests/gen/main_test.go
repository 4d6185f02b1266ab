package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestFilesUpToDate fails when a file in examples/checkrequests differs from
// what the generator writes, or when a file has no case.
func TestFilesUpToDate(t *testing.T) {
	signer, err := newTokenSigner("../../jwks/private.jwk.json")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, c := range cases() {
		path := filepath.Join("..", c.name+".json")
		want[path] = true
		generated, err := render(c, signer)
		if err != nil {
			t.Fatalf("render %s: %v", c.name, err)
		}
		onDisk, err := os.ReadFile(path)
		if err != nil {
			t.Errorf("%s: %v (run go run ./examples/checkrequests/gen from the repository root)", path, err)
			continue
		}
		if string(onDisk) != string(generated) {
			t.Errorf("%s is out of date: run go run ./examples/checkrequests/gen from the repository root", path)
		}
	}

	files, err := filepath.Glob(filepath.Join("..", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[f] {
			t.Errorf("%s matches no generator case: delete it or add the case", f)
		}
	}
}
