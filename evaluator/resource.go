package evaluator

import (
	"strings"

	"github.com/ecsauthz/ecsauthz/evaluator/internal/wildcard"
)

// resourcePattern is one compiled Resource entry,
// service:region:domainId:resourceType:resourcePath. The path is everything
// after the fourth ':' and may itself contain ':'. The service and resource
// type compare case-insensitively, because Huawei's documents write both
// "ECS:" and "ecs:". The region, domain id and path compare exactly.
type resourcePattern struct {
	all      bool // the entry is "*"
	segments [5]string
}

// parseResourcePattern compiles s, or returns why it is invalid.
func parseResourcePattern(s string) (resourcePattern, string) {
	if len(s) > MaxResourceChars {
		return resourcePattern{}, "longer than 128 characters"
	}
	if wildcard.OnlyStars(s) {
		return resourcePattern{all: true}, ""
	}
	parts := strings.SplitN(s, ":", 5)
	if len(parts) != 5 {
		return resourcePattern{}, "expected service:region:domainId:resourceType:resourcePath or *"
	}
	if parts[0] == "" || parts[3] == "" || parts[4] == "" {
		return resourcePattern{}, "the service, resource type and resource path must not be empty"
	}
	var rp resourcePattern
	copy(rp.segments[:], parts)
	return rp, ""
}

// matchesAll reports whether the pattern matches every URN: "*", or every
// segment a star.
func (rp resourcePattern) matchesAll() bool {
	if rp.all {
		return true
	}
	for _, seg := range rp.segments {
		if !wildcard.OnlyStars(seg) {
			return false
		}
	}
	return true
}

// unrestricted reports whether the pattern covers every resource of its
// service: region, domain id, resource type and path are all stars. On
// routes without instance-level resources such an entry (e.g. "ecs:*:*:*:*")
// counts like "*".
func (rp resourcePattern) unrestricted() bool {
	if rp.all {
		return true
	}
	for _, seg := range rp.segments[1:] {
		if !wildcard.OnlyStars(seg) {
			return false
		}
	}
	return true
}

// match reports whether the pattern matches the URN
// service:region:domainID:resourceType:path.
func (rp resourcePattern) match(u *urn) bool {
	if rp.all {
		return true
	}
	return wildcard.Match(rp.segments[0], u.service, true) &&
		wildcard.Match(rp.segments[1], u.region, false) &&
		wildcard.Match(rp.segments[2], u.domainID, false) &&
		wildcard.Match(rp.segments[3], u.resourceType, true) &&
		wildcard.Match(rp.segments[4], u.path, false)
}

// urn is a resource name split into its five segments.
type urn struct {
	service, region, domainID, resourceType, path string
}

// parseURN splits a request's resource URN. ok is false when s does not have
// five segments.
func parseURN(s string) (u urn, ok bool) {
	parts := strings.SplitN(s, ":", 5)
	if len(parts) != 5 {
		return urn{}, false
	}
	return urn{parts[0], parts[1], parts[2], parts[3], parts[4]}, true
}
