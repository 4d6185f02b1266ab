package store

// decodeFlatStrings is a fast path for the most common etcd values: a JSON
// object whose values are all plain strings, as [encodeObject] writes
// grants and memberships. It stores the value of names[i] into *fields[i]
// and returns true.
//
// It changes nothing and returns false for any input that it might not
// decode exactly as encoding/json does. Such input contains white space,
// escape sequences, bytes outside printable ASCII, a key not in names, or
// a value that is not a string. A key that differs from a name only in
// case is also left to encoding/json, which accepts it. The caller then
// decodes with encoding/json, which also reports the errors.
func decodeFlatStrings(value []byte, names []string, fields []*string) bool {
	var found [8]string
	var seen [8]bool
	if len(names) > len(found) || len(value) < 2 || value[0] != '{' {
		return false
	}
	i := 1
	if value[i] == '}' {
		return i+1 == len(value)
	}
	for {
		key, next, ok := plainString(value, i)
		if !ok || next >= len(value) || value[next] != ':' {
			return false
		}
		field := -1
		for j, name := range names {
			if string(key) == name {
				field = j
				break
			}
		}
		if field < 0 {
			return false
		}
		val, next, ok := plainString(value, next+1)
		if !ok || next >= len(value) {
			return false
		}
		found[field], seen[field] = string(val), true // A repeated key keeps the last value, as in encoding/json.
		switch value[next] {
		case ',':
			i = next + 1
			continue
		case '}':
			if next+1 != len(value) {
				return false
			}
		default:
			return false
		}
		break
	}
	for j := range names {
		if seen[j] {
			*fields[j] = found[j]
		}
	}
	return true
}

// plainString returns the contents of the JSON string that starts at
// value[i] and the index after its closing quote. ok is false unless the
// string is made of printable ASCII without backslashes.
func plainString(value []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(value) || value[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(value); j++ {
		switch c := value[j]; {
		case c == '"':
			return value[i+1 : j], j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return nil, 0, false
		}
	}
	return nil, 0, false
}
