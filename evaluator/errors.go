package evaluator

import (
	"errors"
	"fmt"
)

// Sentinel errors. Load errors wrap one of them together with the location
// of the rejected element. Test them with errors.Is.
var (
	// ErrInvalidPolicy means a policy document is malformed: bad JSON, an
	// unknown field, a wrong Version or Effect, or an invalid pattern.
	ErrInvalidPolicy = errors.New("invalid policy")
	// ErrUnsupportedCondition means a condition names an unknown operator
	// or has values the operator cannot use.
	ErrUnsupportedCondition = errors.New("unsupported condition")
	// ErrLimitExceeded means a policy document exceeds a configured limit.
	ErrLimitExceeded = errors.New("limit exceeded")
	// ErrUnknownReference means a grant or membership names a policy, user
	// or group that does not exist.
	ErrUnknownReference = errors.New("unknown reference")
	// ErrInvalidData means policy store data is inconsistent: a duplicate
	// id, a grant without exactly one grantee, or a bad scope.
	ErrInvalidData = errors.New("invalid data")
	// ErrInvalidConfig means a [Config] setting is invalid.
	ErrInvalidConfig = errors.New("invalid config")
)

// Problem is one finding about a policy document or the store data. Warnings
// do not stop loading, but errors do.
type Problem struct {
	// Location names the element, e.g. `policy "x", Statement[2].Condition.StringEquals`.
	Location string
	Message  string
	Warning  bool
	// Err is the sentinel the problem wraps, or nil for warnings.
	Err error
}

// String formats the problem as "location: message", prefixed with
// "warning: " for warnings.
func (p Problem) String() string {
	s := p.Location + ": " + p.Message
	if p.Warning {
		return "warning: " + s
	}
	return s
}

// AsError returns the problem as an error wrapping its sentinel.
func (p Problem) AsError() error {
	if p.Err == nil {
		return errors.New(p.String())
	}
	return fmt.Errorf("%s: %w: %s", p.Location, p.Err, p.Message)
}

// problems collects findings while a document or the store data is checked.
type problems struct {
	list []Problem
}

func (ps *problems) errorf(sentinel error, location, format string, args ...any) {
	ps.list = append(ps.list, Problem{Location: location, Message: fmt.Sprintf(format, args...), Err: sentinel})
}

func (ps *problems) warnf(location, format string, args ...any) {
	ps.list = append(ps.list, Problem{Location: location, Message: fmt.Sprintf(format, args...), Warning: true})
}

// err joins every error-level problem, or returns nil when there is none.
func (ps *problems) err() error {
	var errs []error
	for _, p := range ps.list {
		if !p.Warning {
			errs = append(errs, p.AsError())
		}
	}
	return errors.Join(errs...)
}

func (ps *problems) warnings() []Problem {
	var out []Problem
	for _, p := range ps.list {
		if p.Warning {
			out = append(out, p)
		}
	}
	return out
}
