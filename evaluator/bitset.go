package evaluator

// bitset is a fixed-size set of catalog action IDs.
type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

// has reports whether i is in the set. An i outside the set's range is not.
func (b bitset) has(i int) bool {
	w := i >> 6
	return i >= 0 && w < len(b) && b[w]&(1<<(uint(i)&63)) != 0
}

func (b bitset) add(i int) { b[i>>6] |= 1 << (uint(i) & 63) }

// or adds every member of o to b, which must have the same size.
func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

// and keeps only the members of b that are also in o.
func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}
