package server

import (
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestApplyGCPercent(t *testing.T) {
	original := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(original) })
	logger := slog.New(slog.DiscardHandler)

	for _, tc := range []struct {
		name    string
		env     map[string]string
		percent int
		want    int
	}{
		{"setting applies", nil, 400, 400},
		{"collector off", nil, -1, -1},
		{"GOGC takes precedence", map[string]string{"GOGC": "100"}, 400, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100)
			applyGCPercent(tc.percent, func(name string) (string, bool) {
				v, ok := tc.env[name]
				return v, ok
			}, logger)
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("GC percent = %d, want %d", got, tc.want)
			}
		})
	}
}
