package evaluator

import "testing"

func TestBitsetRank(t *testing.T) {
	b := newBitset(200)
	members := []int{0, 5, 63, 64, 127, 128, 199}
	for _, i := range members {
		b.add(i)
	}
	if got := b.count(); got != len(members) {
		t.Errorf("count = %d, want %d", got, len(members))
	}
	r := newRankIndex(b)
	for want, i := range members {
		if got := r.rank(b, i); got != want {
			t.Errorf("rank(%d) = %d, want %d", i, got, want)
		}
	}
	if got := r.rank(b, 100); got != 4 {
		t.Errorf("rank(100), not a member = %d, want 4", got)
	}
}
