package evaluator

import (
	"encoding/json"
	"fmt"
)

// Names of the built-in system policies.
const (
	PolicyECSFullAccess       = "ECS FullAccess"
	PolicyECSCommonOperations = "ECS CommonOperations"
	PolicyECSReadOnlyAccess   = "ECS ReadOnlyAccess"
	PolicyServerAdministrator = "Server Administrator"
	builtinPolicySource       = "built-in"
)

// builtinActions lists the Allow actions of each system-defined ECS policy.
// The contents follow the system policies as Open Telekom Cloud (a
// white-label Huawei Cloud) prints them. Huawei publishes the same names.
// Server Administrator is an RBAC role in Huawei IAM that must be paired
// with Tenant Guest. Here it is a policy with the role's actions.
var builtinActions = []struct {
	name, description string
	actions           []string
}{
	{
		name:        PolicyECSFullAccess,
		description: "All permissions for ECS and the EVS, VPC and IMS actions ECS operations depend on.",
		actions: []string{
			"ecs:*:*",
			"evs:*:get", "evs:*:list",
			"evs:volumes:create", "evs:volumes:delete", "evs:volumes:attach", "evs:volumes:detach",
			"evs:volumes:manage", "evs:volumes:update", "evs:volumes:use", "evs:volumes:uploadImage",
			"evs:snapshots:create",
			"vpc:*:get", "vpc:*:list",
			"vpc:networks:create", "vpc:networks:update", "vpc:subnets:update", "vpc:subnets:create",
			"vpc:ports:*", "vpc:routers:get", "vpc:routers:update",
			"vpc:securityGroups:*", "vpc:securityGroupRules:*", "vpc:floatingIps:*", "vpc:publicIps:*",
			"ims:images:create", "ims:images:delete", "ims:images:get", "ims:images:list",
			"ims:images:update", "ims:images:upload",
		},
	},
	{
		name:        PolicyECSCommonOperations,
		description: "Start, stop, restart and query ECS servers, with the dependent EVS, VPC and IMS actions.",
		actions: []string{
			"ecs:*:get*", "ecs:*:list*", "ecs:*:start", "ecs:*:stop", "ecs:*:reboot",
			"ecs:diskConfigs:use", "ecs:securityGroups:use", "ecs:serverGroups:manage",
			"ecs:serverKeypairs:*", "ecs:serverPasswords:manage", "ecs:servers:createConsole",
			"ecs:servers:createImage", "ecs:servers:setMetadata", "ecs:servers:setTags",
			"ecs:serverVolumes:use",
			"evs:*:get*", "evs:*:list*", "evs:snapshots:create",
			"evs:volumes:uploadImage", "evs:volumes:delete", "evs:volumes:update", "evs:volumes:attach",
			"evs:volumes:detach", "evs:volumes:manage", "evs:volumes:use",
			"vpc:*:get*", "vpc:*:list*",
			"vpc:floatingIps:create", "vpc:floatingIps:update", "vpc:floatingIps:delete",
			"vpc:publicIps:update", "vpc:publicIps:delete",
			"ims:images:create", "ims:images:delete", "ims:images:get", "ims:images:list",
			"ims:images:update", "ims:images:upload",
		},
	},
	{
		name:        PolicyECSReadOnlyAccess,
		description: "Read-only access to ECS and the related EVS, VPC and IMS resources.",
		actions: []string{
			"ecs:*:get*", "ecs:*:list*", "ecs:serverGroups:manage", "ecs:serverVolumes:use",
			"evs:*:get*", "evs:*:list*", "vpc:*:get*", "vpc:*:list*", "ims:*:get*", "ims:*:list*",
		},
	},
	{
		name:        PolicyServerAdministrator,
		description: "The actions of the Server Administrator role: all ECS actions and the dependent EVS, VPC and IMS actions.",
		actions: []string{
			"ecs:*:*",
			"evs:*:get", "evs:*:list",
			"evs:volumes:create", "evs:volumes:delete", "evs:volumes:attach", "evs:volumes:detach",
			"evs:volumes:manage", "evs:volumes:update", "evs:volumes:uploadImage",
			"evs:snapshots:create",
			"vpc:*:get", "vpc:*:list",
			"vpc:networks:create", "vpc:networks:update", "vpc:subnets:create", "vpc:subnets:update",
			"vpc:routers:get", "vpc:routers:update",
			"vpc:ports:*", "vpc:privateIps:*", "vpc:securityGroups:*", "vpc:securityGroupRules:*",
			"vpc:floatingIps:*", "vpc:publicIps:*", "vpc:bandwidths:*", "vpc:firewalls:*",
			"ims:images:create", "ims:images:delete", "ims:images:get", "ims:images:list",
			"ims:images:update", "ims:images:upload",
		},
	},
}

// BuiltinPolicies returns Huawei's system-defined ECS policies: ECS
// FullAccess, ECS CommonOperations, ECS ReadOnlyAccess and Server
// Administrator. Grants refer to them by these names. Each call returns new
// values the caller may modify.
func BuiltinPolicies() []Policy {
	out := make([]Policy, 0, len(builtinActions))
	for _, b := range builtinActions {
		doc := map[string]any{
			"Version":   PolicyVersion,
			"Statement": []any{map[string]any{"Effect": EffectAllow, "Action": b.actions}},
		}
		raw, err := json.Marshal(doc)
		if err != nil {
			panic(fmt.Sprintf("evaluator: failed to encode built-in policy %q: %v", b.name, err))
		}
		out = append(out, Policy{Name: b.name, Description: b.description, Document: raw, Source: builtinPolicySource})
	}
	return out
}

// IsBuiltinPolicy reports whether name is the name of a built-in policy.
func IsBuiltinPolicy(name string) bool {
	for _, b := range builtinActions {
		if b.name == name {
			return true
		}
	}
	return false
}
