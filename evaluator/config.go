package evaluator

import (
	"errors"
	"fmt"
)

// Default limits. They are Huawei IAM's published limits for custom policies
// of Version 1.1: 8 statements, 100 actions and 10 resources per statement,
// 10 conditions and 6,144 characters per document.
const (
	DefaultMaxStatements            = 8
	DefaultMaxActionsPerStatement   = 100
	DefaultMaxResourcesPerStatement = 10
	DefaultMaxConditions            = 10
	DefaultMaxDocumentChars         = 6144

	// MaxResourceChars is the maximum length of one Resource entry, also a
	// published Huawei IAM limit. It is not configurable.
	MaxResourceChars = 128
)

// Limits bounds the size of custom policy documents. Built-in system
// policies are exempt.
type Limits struct {
	// Statements is the maximum number of statements per document. Default 8.
	Statements int `yaml:"statements"`
	// ActionsPerStatement is the maximum number of Action entries per
	// statement. Default 100.
	ActionsPerStatement int `yaml:"actions_per_statement"`
	// ResourcesPerStatement is the maximum number of Resource entries per
	// statement. Default 10.
	ResourcesPerStatement int `yaml:"resources_per_statement"`
	// Conditions is the maximum number of conditions (operator and key
	// pairs) per statement. Default 10.
	Conditions int `yaml:"conditions"`
	// DocumentChars is the maximum length of a document in characters
	// (Unicode code points). Default 6144.
	DocumentChars int `yaml:"document_chars"`
}

// SetDefaults fills every zero limit with its default.
func (l *Limits) SetDefaults() {
	setDefault(&l.Statements, DefaultMaxStatements)
	setDefault(&l.ActionsPerStatement, DefaultMaxActionsPerStatement)
	setDefault(&l.ResourcesPerStatement, DefaultMaxResourcesPerStatement)
	setDefault(&l.Conditions, DefaultMaxConditions)
	setDefault(&l.DocumentChars, DefaultMaxDocumentChars)
}

func setDefault(v *int, def int) {
	if *v == 0 {
		*v = def
	}
}

// DefaultLimits returns Huawei IAM's default limits.
func DefaultLimits() Limits {
	var l Limits
	l.SetDefaults()
	return l
}

// Config is the evaluator's configuration, read from the "evaluator" key of
// the server configuration.
type Config struct {
	// Limits bounds custom policy documents, and zero fields take the defaults.
	Limits Limits `yaml:"limits"`
	// Region is the region used in resource URNs
	// (ecs:<region>:<domain_id>:instance:<server_id>) when a request names
	// none. Default empty, which leaves the region segment empty.
	Region string `yaml:"region"`
	// RootUserIDs lists user ids that are allowed every action, in addition
	// to users marked Root in the policy store. Default none.
	RootUserIDs []string `yaml:"root_user_ids"`
}

// SetDefaults fills every unset field with its default.
func (c *Config) SetDefaults() {
	c.Limits.SetDefaults()
}

// Validate reports every invalid setting at once, each naming its
// configuration key. It returns nil for a valid configuration.
func (c *Config) Validate() error {
	var errs []error
	limits := []struct {
		key   string
		value int
	}{
		{"evaluator.limits.statements", c.Limits.Statements},
		{"evaluator.limits.actions_per_statement", c.Limits.ActionsPerStatement},
		{"evaluator.limits.resources_per_statement", c.Limits.ResourcesPerStatement},
		{"evaluator.limits.conditions", c.Limits.Conditions},
		{"evaluator.limits.document_chars", c.Limits.DocumentChars},
	}
	for _, l := range limits {
		if l.value <= 0 {
			errs = append(errs, fmt.Errorf("%w: %s must be positive, got %d", ErrInvalidConfig, l.key, l.value))
		}
	}
	for i, id := range c.RootUserIDs {
		if id == "" {
			errs = append(errs, fmt.Errorf("%w: evaluator.root_user_ids[%d] is empty", ErrInvalidConfig, i))
		}
	}
	return errors.Join(errs...)
}
