package server

import (
	"log/slog"
	"runtime/debug"
)

// applyGCPercent sets the garbage collection target to percent, unless the
// GOGC environment variable (read through lookupEnv) is set: the runtime
// has then applied GOGC already, and it wins as it does for any Go program.
func applyGCPercent(percent int, lookupEnv func(string) (string, bool), logger *slog.Logger) {
	if value, ok := lookupEnv("GOGC"); ok {
		logger.Info("garbage collection target taken from GOGC, gc_percent ignored", "GOGC", value, "gc_percent", percent)
		return
	}
	debug.SetGCPercent(percent)
	logger.Info("garbage collection target set", "gc_percent", percent)
}
