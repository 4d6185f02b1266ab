package store

import "github.com/ecsauthz/ecsauthz/evaluator"

// DefaultPolicyValidator is the validator stores use unless
// [WithValidator] sets another: the evaluator's policy language checks
// with Huawei IAM's default limits. A server configured with other limits
// passes [LimitsValidator] of them.
var DefaultPolicyValidator = LimitsValidator(evaluator.DefaultLimits())

// LimitsValidator returns a validator that checks documents with
// evaluator.ValidatePolicy under limits.
func LimitsValidator(limits evaluator.Limits) PolicyValidator {
	return func(name string, doc []byte) error {
		return evaluator.ValidatePolicy(name, doc, limits)
	}
}
