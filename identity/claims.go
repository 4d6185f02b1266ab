package identity

import (
	"fmt"
	"math"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// claimSet reads named claims from a decoded token payload.
type claimSet interface {
	// Each method reports whether the claim is present and returns an error
	// when it has the wrong JSON type. A null claim counts as absent.
	stringClaim(name string) (string, bool, error)
	numberClaim(name string) (float64, bool, error)
	containsString(name, value string) (bool, error)
}

// mapClaims is a JSON payload decoded into a map, as go-jose returns it.
type mapClaims map[string]any

func (m mapClaims) stringClaim(name string) (string, bool, error) {
	value, ok := m[name]
	if !ok || value == nil {
		return "", false, nil
	}
	text, ok := value.(string)
	if !ok {
		return "", true, fmt.Errorf("claim %q is %T, not a string", name, value)
	}
	return text, true, nil
}

func (m mapClaims) numberClaim(name string) (float64, bool, error) {
	value, ok := m[name]
	if !ok || value == nil {
		return 0, false, nil
	}
	number, ok := value.(float64)
	if !ok {
		return 0, true, fmt.Errorf("claim %q is %T, not a number", name, value)
	}
	return number, true, nil
}

func (m mapClaims) containsString(name, want string) (bool, error) {
	switch value := m[name].(type) {
	case nil:
		return false, nil
	case string:
		return value == want, nil
	case []any:
		for _, item := range value {
			if item == want {
				return true, nil
			}
		}
		return false, nil
	default:
		return false, fmt.Errorf("claim %q is %T, not a list of strings", name, value)
	}
}

// structClaims is a payload that Envoy's jwt_authn filter stored as a Struct.
type structClaims struct{ fields map[string]*structpb.Value }

func (s structClaims) stringClaim(name string) (string, bool, error) {
	value, ok := s.fields[name]
	if !ok || isNull(value) {
		return "", false, nil
	}
	text, ok := value.GetKind().(*structpb.Value_StringValue)
	if !ok {
		return "", true, fmt.Errorf("claim %q is not a string", name)
	}
	return text.StringValue, true, nil
}

func (s structClaims) numberClaim(name string) (float64, bool, error) {
	value, ok := s.fields[name]
	if !ok || isNull(value) {
		return 0, false, nil
	}
	number, ok := value.GetKind().(*structpb.Value_NumberValue)
	if !ok {
		return 0, true, fmt.Errorf("claim %q is not a number", name)
	}
	return number.NumberValue, true, nil
}

func (s structClaims) containsString(name, want string) (bool, error) {
	value, ok := s.fields[name]
	if !ok || isNull(value) {
		return false, nil
	}
	switch kind := value.GetKind().(type) {
	case *structpb.Value_StringValue:
		return kind.StringValue == want, nil
	case *structpb.Value_ListValue:
		for _, item := range kind.ListValue.GetValues() {
			if item.GetStringValue() == want {
				return true, nil
			}
		}
		return false, nil
	default:
		return false, fmt.Errorf("claim %q is not a list of strings", name)
	}
}

func isNull(value *structpb.Value) bool {
	_, null := value.GetKind().(*structpb.Value_NullValue)
	return value == nil || value.GetKind() == nil || null
}

// maxUnixSeconds is 9999-12-31T23:59:59Z, the largest auth_time accepted.
const maxUnixSeconds = 253402300799

// tokenIdentity is the identity a verified token carries. It is cached, and
// [tokenIdentity.principalAt] derives the per-request fields.
type tokenIdentity struct {
	principal evaluator.Principal
	// authTime is the auth_time claim in Unix seconds, -1 when absent.
	authTime int64
}

// principalAt returns the principal at nowUnix (Unix seconds), with the MFA age computed
// from the authentication time.
func (t *tokenIdentity) principalAt(nowUnix int64) evaluator.Principal {
	principal := t.principal
	principal.MFAAge = -1
	if principal.MFAPresent && t.authTime >= 0 {
		principal.MFAAge = max(nowUnix-t.authTime, 0)
	}
	return principal
}

// identityFromClaims maps claims to a tokenIdentity. The user id and domain
// id claims are required, and every mapped claim must have the right type.
func identityFromClaims(claims claimSet, mapping *ClaimMapping) (tokenIdentity, error) {
	identity := tokenIdentity{authTime: -1}
	principal := &identity.principal

	fields := []struct {
		claim    string
		field    *string
		required bool
	}{
		{mapping.UserID, &principal.UserID, true},
		{mapping.UserName, &principal.UserName, false},
		{mapping.DomainID, &principal.DomainID, true},
		{mapping.DomainName, &principal.DomainName, false},
		{mapping.ProjectID, &principal.ProjectID, false},
		{mapping.ProjectName, &principal.ProjectName, false},
	}
	for _, entry := range fields {
		if entry.claim == "" {
			continue
		}
		value, _, err := claims.stringClaim(entry.claim)
		if err != nil {
			return tokenIdentity{}, err
		}
		if entry.required && value == "" {
			return tokenIdentity{}, fmt.Errorf("missing claim %q", entry.claim)
		}
		*entry.field = value
	}

	if mapping.AuthMethods != "" {
		mfa, err := claims.containsString(mapping.AuthMethods, mapping.MFAMethod)
		if err != nil {
			return tokenIdentity{}, err
		}
		principal.MFAPresent = mfa
	}
	if mapping.AuthTime != "" {
		seconds, present, err := claims.numberClaim(mapping.AuthTime)
		if err != nil {
			return tokenIdentity{}, err
		}
		if present {
			if math.IsNaN(seconds) || seconds < 0 || seconds > maxUnixSeconds {
				return tokenIdentity{}, fmt.Errorf("claim %q is out of range", mapping.AuthTime)
			}
			identity.authTime = int64(seconds)
		}
	}
	principal.MFAAge = -1
	return identity, nil
}
