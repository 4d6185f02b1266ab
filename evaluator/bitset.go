package evaluator

import "math/bits"

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

// count returns the number of members.
func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// rankIndex holds, per word of a bitset, the number of members in the
// words before it, so that the rank of a member costs one population count.
type rankIndex []int32

func newRankIndex(b bitset) rankIndex {
	r := make(rankIndex, len(b))
	n := 0
	for w, word := range b {
		r[w] = int32(n)
		n += bits.OnesCount64(word)
	}
	return r
}

// rank returns the number of members of b below i, which is i's index in a
// dense list of the members' values. r must be the index of b, and i must
// be within b's range.
func (r rankIndex) rank(b bitset, i int) int {
	w := i >> 6
	return int(r[w]) + bits.OnesCount64(b[w]&(1<<(uint(i)&63)-1))
}
