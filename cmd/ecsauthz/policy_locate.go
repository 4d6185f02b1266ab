package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// locateProblemLine returns the 1-based line in src of the element that an
// evaluator problem location names, such as
// `policy "x", Statement[2].Condition.StringEquals`. docPath is the path of
// the policy document inside src. When the path leads nowhere, the line of
// the deepest element found is returned, and 1 when nothing matched.
func locateProblemLine(src []byte, docPath []string, location string) int {
	path := append(append([]string(nil), docPath...), parseLocationPath(location)...)
	dec := json.NewDecoder(bytes.NewReader(src))
	offset := findJSONPath(dec, src, path)
	return 1 + bytes.Count(src[:offset], []byte("\n"))
}

// parseLocationPath splits the part after `policy "x", ` into object keys
// and "[n]" indexes: "Statement[2].Action[0]" becomes
// ["Statement", "[2]", "Action", "[0]"].
func parseLocationPath(location string) []string {
	_, rest, found := strings.Cut(location, `", `)
	if !found || rest == "" {
		return nil
	}
	var path []string
	for _, part := range strings.Split(rest, ".") {
		for part != "" {
			open := strings.IndexByte(part, '[')
			switch {
			case open < 0:
				path = append(path, part)
				part = ""
			case open > 0:
				path = append(path, part[:open])
				part = part[open:]
			default:
				end := strings.IndexByte(part, ']')
				if end < 0 {
					return path
				}
				path = append(path, part[:end+1])
				part = part[end+1:]
			}
		}
	}
	return path
}

// findJSONPath reads the next value from dec and returns the byte offset of
// the element that path names within it, or of the deepest element found.
func findJSONPath(dec *json.Decoder, src []byte, path []string) int {
	start := skipSeparators(src, int(dec.InputOffset()))
	if len(path) == 0 {
		return start
	}
	tok, err := dec.Token()
	if err != nil {
		return start
	}
	delim, ok := tok.(json.Delim)
	if !ok {
		return start
	}

	switch delim {
	case '{':
		for dec.More() {
			keyStart := skipSeparators(src, int(dec.InputOffset()))
			key, err := dec.Token()
			if err != nil {
				return start
			}
			if name, _ := key.(string); strings.EqualFold(name, path[0]) {
				if len(path) == 1 {
					return keyStart
				}
				return findJSONPath(dec, src, path[1:])
			}
			if skipJSONValue(dec) != nil {
				return start
			}
		}
	case '[':
		index, err := strconv.Atoi(strings.Trim(path[0], "[]"))
		if err != nil {
			return start
		}
		for i := 0; dec.More(); i++ {
			if i == index {
				return findJSONPath(dec, src, path[1:])
			}
			if skipJSONValue(dec) != nil {
				return start
			}
		}
	}
	return start
}

func skipJSONValue(dec *json.Decoder) error {
	var discard json.RawMessage
	return dec.Decode(&discard)
}

// skipSeparators returns the offset of the first byte at or after offset
// that is not JSON whitespace, ':' or ','.
func skipSeparators(src []byte, offset int) int {
	for offset < len(src) {
		switch src[offset] {
		case ' ', '\t', '\r', '\n', ':', ',':
			offset++
		default:
			return offset
		}
	}
	return min(offset, len(src))
}
