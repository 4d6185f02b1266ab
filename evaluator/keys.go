package evaluator

import (
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// keyKind identifies a global condition key.
type keyKind int

const (
	keyUnknown keyKind = iota
	keyCurrentTime
	keyDomainName
	keyDomainID
	keyMFAPresent
	keyMFAAge
	keyProjectName
	keyProjectID
	keyServiceName
	keyUserID
	keyUserName
	keySourceIP
	keyEnterpriseProjectID
	keyResourceTag // g:ResourceTag/<tag key>
	keyRequestTag  // g:RequestTag/<tag key>
	keyTagKeys
)

// conditionKey is a parsed condition key. tag is the tag key of
// g:ResourceTag/<tag> and g:RequestTag/<tag>, compared exactly.
type conditionKey struct {
	kind keyKind
	tag  string
}

// globalKeys maps lower-cased key names to their kind. Key names compare
// case-insensitively.
var globalKeys = map[string]keyKind{
	"g:currenttime":         keyCurrentTime,
	"g:domainname":          keyDomainName,
	"g:domainid":            keyDomainID,
	"g:mfapresent":          keyMFAPresent,
	"g:mfaage":              keyMFAAge,
	"g:projectname":         keyProjectName,
	"g:projectid":           keyProjectID,
	"g:servicename":         keyServiceName,
	"g:userid":              keyUserID,
	"g:username":            keyUserName,
	"g:sourceip":            keySourceIP,
	"g:enterpriseprojectid": keyEnterpriseProjectID,
	"g:tagkeys":             keyTagKeys,
}

// parseConditionKey resolves a key name. known is false for a key the
// evaluator does not supply, which then always evaluates as absent.
func parseConditionKey(name string) (key conditionKey, known bool) {
	lower := strings.ToLower(name)
	if kind, ok := globalKeys[lower]; ok {
		return conditionKey{kind: kind}, true
	}
	for prefix, kind := range map[string]keyKind{"g:resourcetag/": keyResourceTag, "g:requesttag/": keyRequestTag} {
		if strings.HasPrefix(lower, prefix) && len(name) > len(prefix) {
			return conditionKey{kind: kind, tag: name[len(prefix):]}, true
		}
	}
	return conditionKey{kind: keyUnknown}, false
}

// evalContext is the input of condition and resource evaluation: one
// request, one resource and one action.
type evalContext struct {
	principal   *Principal
	region      string
	sourceIP    netip.Addr
	time        time.Time
	requestTags map[string]string

	// enterpriseProject is the resolved enterprise project id, "" if unknown.
	enterpriseProject string
	// server is the registry entry of the resource, nil if none.
	server *Server
	// fast is the bucket whose bitset decided the last action evalAction
	// evaluated, or nil when a statement list decided it or nothing did.
	fast *bucket
	// resource is the URN that Resource patterns match against. hasResource
	// is false on routes without instance-level resources.
	resource    urn
	hasResource bool

	// service is the service of the action being evaluated, e.g. "ecs".
	service string
}

// lookup returns the request's values for key. present is false when the
// request has none. buf provides storage for single values.
func (ec *evalContext) lookup(key conditionKey, buf *[1]string) (values []string, present bool) {
	singleValue := func(v string) ([]string, bool) {
		if v == "" {
			return nil, false
		}
		buf[0] = v
		return buf[:], true
	}
	p := ec.principal
	switch key.kind {
	case keyCurrentTime:
		if ec.time.IsZero() {
			return nil, false
		}
		return singleValue(ec.time.UTC().Format(time.RFC3339Nano))
	case keyDomainName:
		return singleValue(p.DomainName)
	case keyDomainID:
		return singleValue(p.DomainID)
	case keyMFAPresent:
		return singleValue(strconv.FormatBool(p.MFAPresent))
	case keyMFAAge:
		if p.MFAAge < 0 {
			return nil, false
		}
		return singleValue(strconv.FormatInt(p.MFAAge, 10))
	case keyProjectName:
		return singleValue(p.ProjectName)
	case keyProjectID:
		return singleValue(p.ProjectID)
	case keyServiceName:
		return singleValue(ec.service)
	case keyUserID:
		return singleValue(p.UserID)
	case keyUserName:
		return singleValue(p.UserName)
	case keySourceIP:
		if !ec.sourceIP.IsValid() {
			return nil, false
		}
		return singleValue(ec.sourceIP.Unmap().String())
	case keyEnterpriseProjectID:
		return singleValue(ec.enterpriseProject)
	case keyResourceTag:
		if ec.server == nil {
			return nil, false
		}
		v, ok := ec.server.Tags[key.tag]
		if !ok {
			return nil, false
		}
		buf[0] = v
		return buf[:], true
	case keyRequestTag:
		v, ok := ec.requestTags[key.tag]
		if !ok {
			return nil, false
		}
		buf[0] = v
		return buf[:], true
	case keyTagKeys:
		if len(ec.requestTags) == 0 {
			return nil, false
		}
		keys := make([]string, 0, len(ec.requestTags))
		for k := range ec.requestTags {
			keys = append(keys, k)
		}
		return keys, true
	}
	return nil, false
}
