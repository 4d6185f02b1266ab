package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync/atomic"
)

// decisionIDs issues decision ids of the form "<16 hex digits>-<counter>".
// The 64-bit prefix is random per process, which makes a collision between
// replicas or restarts unlikely. The counter makes ids unique within the
// process. An id costs one atomic add and one string allocation.
type decisionIDs struct {
	prefix  [17]byte // 16 hex digits and '-'
	counter atomic.Uint64
}

func newDecisionIDs() (*decisionIDs, error) {
	var random [8]byte
	if _, err := rand.Read(random[:]); err != nil {
		return nil, fmt.Errorf("failed to read random decision id prefix: %w", err)
	}
	ids := &decisionIDs{}
	hex.Encode(ids.prefix[:16], random[:])
	ids.prefix[16] = '-'
	return ids, nil
}

func (ids *decisionIDs) next() string {
	var buf [17 + 20]byte
	b := append(buf[:0], ids.prefix[:]...)
	b = strconv.AppendUint(b, ids.counter.Add(1), 10)
	return string(b)
}
