package evaluator

import "sync/atomic"

// Holder publishes the current [Engine]. Readers call Load on every request
// and never block. A reload compiles a new Engine aside and swaps it in with
// Store, so each decision uses one consistent snapshot.
type Holder struct {
	engine atomic.Pointer[Engine]
}

// Load returns the current engine, or nil before the first Store.
func (h *Holder) Load() *Engine { return h.engine.Load() }

// Store makes e the current engine.
func (h *Holder) Store(e *Engine) { h.engine.Store(e) }
