// Package wildcard matches the '*' and '?' patterns of policy documents.
package wildcard

// Match reports whether s matches pattern, where '*' matches any run of
// characters (including ':' so a star may span segments) and '?' matches
// exactly one byte. With fold set, ASCII letters compare case-insensitively.
//
// The loop keeps the position of the last '*' and backtracks to it on a
// mismatch, so the cost is O(len(pattern)*len(s)) in the worst case and it
// never allocates.
func Match(pattern, s string, fold bool) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && (pattern[p] == '?' || equalByte(pattern[p], s[i], fold)):
			p++
			i++
		case star >= 0:
			// Let the last star absorb one more byte and retry from there.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func equalByte(a, b byte, fold bool) bool {
	if a == b {
		return true
	}
	return fold && lowerByte(a) == lowerByte(b)
}

func lowerByte(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// HasWildcard reports whether s contains '*' or '?'.
func HasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' || s[i] == '?' {
			return true
		}
	}
	return false
}

// OnlyStars reports whether s is non-empty and consists of '*' only.
func OnlyStars(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '*' {
			return false
		}
	}
	return true
}
