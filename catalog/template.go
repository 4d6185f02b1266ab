package catalog

import (
	"fmt"
	"strings"
)

// segment is one segment of a parsed path template: a literal or a
// parameter that matches any one non-empty segment.
type segment struct {
	literal string // set when param is empty
	param   string // parameter name without braces
}

// parseTemplate parses a route path template. The accepted syntax:
//
//	template = 1*( "/" segment )
//	segment  = literal / "{" name "}"
//	literal  = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "!" / "$" / "&" /
//	               "'" / "(" / ")" / "*" / "+" / "," / "=" / ":" / "@" )
//	name     = ( LOWER / "_" ) *( LOWER / DIGIT / "_" )
//
// Constraints:
//   - a parameter fills a whole segment ("/v1/{project_id}"), never part of one;
//   - a literal is never "." or "..", and contains no '%', so it is already in
//     the canonical form that [Canonicalize] produces;
//   - parameter names are unique within a template, and there are at most
//     [MaxParams] of them;
//   - there is no query part and no trailing '/'.
//
// Each error quotes the rejected fragment.
func parseTemplate(template string) ([]segment, error) {
	if !strings.HasPrefix(template, "/") {
		return nil, fmt.Errorf("path template %q does not start with '/'", template)
	}

	var segments []segment
	seen := make(map[string]bool)
	for _, raw := range strings.Split(template[1:], "/") {
		if raw == "" {
			return nil, fmt.Errorf("path template %q has an empty segment", template)
		}

		if strings.HasPrefix(raw, "{") {
			name, err := parseParam(raw)
			if err != nil {
				return nil, err
			}
			if seen[name] {
				return nil, fmt.Errorf("parameter %q appears twice in path template %q", name, template)
			}
			seen[name] = true
			segments = append(segments, segment{param: name})
			continue
		}

		if err := checkLiteral(raw); err != nil {
			return nil, err
		}
		segments = append(segments, segment{literal: raw})
	}

	if len(seen) > MaxParams {
		return nil, fmt.Errorf("path template %q has %d parameters, more than the maximum of %d", template, len(seen), MaxParams)
	}
	return segments, nil
}

func parseParam(raw string) (string, error) {
	if len(raw) < 3 || !strings.HasSuffix(raw, "}") {
		return "", fmt.Errorf("parameter segment %q must have the form {name}", raw)
	}
	name := raw[1 : len(raw)-1]
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c == '_' || 'a' <= c && c <= 'z' || i > 0 && '0' <= c && c <= '9' {
			continue
		}
		return "", fmt.Errorf("parameter name %q must be lower-case letters, digits and '_', starting with a letter or '_'", name)
	}
	return name, nil
}

func checkLiteral(raw string) error {
	if raw == "." || raw == ".." {
		return fmt.Errorf("literal segment %q is a dot segment", raw)
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' {
			continue
		}
		if !strings.ContainsRune("-._~!$&'()*+,=:@", rune(c)) {
			return fmt.Errorf("literal segment %q contains %q, which is not allowed in a template", raw, c)
		}
	}
	return nil
}

// paramNames returns the parameter names of segments in path order.
func paramNames(segments []segment) []string {
	var names []string
	for _, s := range segments {
		if s.param != "" {
			names = append(names, s.param)
		}
	}
	return names
}
