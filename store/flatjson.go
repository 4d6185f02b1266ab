package store

// decodeFlatStrings is a fast path for the most common etcd values: a JSON
// object whose values are all plain strings, as [encodeObject] writes
// grants and memberships. It stores the value of names[i] into *fields[i]
// and returns true. It returns false, having changed nothing, for any
// input it does not handle exactly as encoding/json does: white space,
// escape sequences, bytes outside printable ASCII, a key not in names
// (encoding/json also matches keys without regard to case), or a value
// that is not a string. The caller then decodes with encoding/json, which
// also reports the errors.
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
			if name == key {
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
		found[field], seen[field] = val, true // A repeated key keeps the last value, as in encoding/json.
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

// plainString reads the JSON string that starts at value[i] and returns
// it, with the index after its closing quote. ok is false unless the
// string is made of printable ASCII without backslashes.
func plainString(value []byte, i int) (s string, next int, ok bool) {
	if i >= len(value) || value[i] != '"' {
		return "", 0, false
	}
	for j := i + 1; j < len(value); j++ {
		switch c := value[j]; {
		case c == '"':
			return string(value[i+1 : j]), j + 1, true
		case c == '\\' || c < 0x20 || c >= 0x7f:
			return "", 0, false
		}
	}
	return "", 0, false
}
