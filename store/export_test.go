package store

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

func TestWriteDirRoundTrip(t *testing.T) {
	data := loadExample(t)
	doc := json.RawMessage(`{"Version":"1.1","Statement":[{"Effect":"Allow","Action":["ecs:*:list*"]}]}`)
	data.Policies = append(data.Policies,
		evaluator.Policy{Name: "with description", Description: "lists servers", Document: doc},
		evaluator.Policy{Name: "a/b", Document: doc},
		evaluator.Policy{Name: "a_b", Document: doc},
		evaluator.Policy{Name: ".hidden", Document: doc},
	)
	SortData(data)

	dir := filepath.Join(t.TempDir(), "out")
	if err := WriteDir(dir, data); err != nil {
		t.Fatalf("WriteDir: %v", err)
	}
	snap, err := NewFileStore(dir).Load(context.Background())
	if err != nil {
		t.Fatalf("Load of the export: %v", err)
	}
	if diff := cmp.Diff(data, snap.Data, ignoreSource); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := WriteDir(dir, data); err == nil {
		t.Error("WriteDir into a non-empty directory succeeded")
	}
}

func TestSafeFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"ECS FullAccess", "ECS FullAccess"},
		{"a/b", "a_b"},
		{".x", "_x"},
		{"", "_"},
		{"日本", "______"},
	}
	for _, tt := range tests {
		if got := safeFileName(tt.in); got != tt.want {
			t.Errorf("safeFileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
