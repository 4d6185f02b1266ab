// Command genstore writes a large file policy store for scale tests: by
// default 10,000 users, 10,000 custom policies and 100,000 grants, plus the
// example account's users, groups and grants so the benchmark's request mix
// still gets its usual decisions. Output is deterministic for a given -seed.
//
//	go run ./cmd/genstore -out /tmp/bigstore
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
)

const (
	domainID   = "d0000000000000000000000000000001"
	domainName = "example-domain"
	projectID  = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
)

// actions are the action names and patterns the generated statements draw
// from: ECS lifecycle actions and their dependencies, whole and wildcard.
var actions = []string{
	"ecs:cloudServers:create", "ecs:cloudServers:delete", "ecs:cloudServers:list", "ecs:cloudServers:get",
	"ecs:cloudServers:put", "ecs:cloudServers:start", "ecs:cloudServers:stop", "ecs:cloudServers:reboot",
	"ecs:servers:list", "ecs:servers:get", "ecs:servers:create", "ecs:servers:delete", "ecs:servers:update",
	"ecs:serverVolumes:use", "ecs:diskConfigs:use", "ecs:securityGroups:use", "ecs:serverKeypairs:get",
	"ecs:serverInterfaces:use", "ecs:serverInterfaces:get", "ecs:flavors:get",
	"evs:volumes:list", "evs:volumes:get", "evs:volumes:create", "evs:volumes:attach", "evs:volumes:manage",
	"vpc:securityGroups:get", "vpc:securityGroupRules:get", "vpc:networks:get", "vpc:subnets:get",
	"vpc:ports:get", "vpc:routers:get", "vpc:publicIps:create", "vpc:publicIps:update",
	"ims:images:list", "ims:images:get",
	"ecs:*:get*", "ecs:*:list*", "ecs:cloudServers:*", "ecs:servers:*", "evs:*:get", "vpc:*:get", "vpc:ports:*",
}

// sizes are the counts to generate.
type sizes struct {
	users, groups, policies, grants, servers, projects, enterpriseProjects, groupsPerUser int
}

func main() {
	out := flag.String("out", "", "directory to write the store to (created; must be empty or absent)")
	s := sizes{}
	flag.IntVar(&s.users, "users", 10000, "number of generated users")
	flag.IntVar(&s.groups, "groups", 2000, "number of generated groups")
	flag.IntVar(&s.policies, "policies", 10000, "number of generated custom policies")
	flag.IntVar(&s.grants, "grants", 100000, "number of generated grants, spread evenly over the groups")
	flag.IntVar(&s.servers, "servers", 10000, "number of generated servers in the registry")
	flag.IntVar(&s.projects, "projects", 20, "number of region projects the grants refer to")
	flag.IntVar(&s.enterpriseProjects, "enterprise-projects", 100, "number of enterprise projects the grants refer to")
	flag.IntVar(&s.groupsPerUser, "groups-per-user", 2, "groups each generated user belongs to")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "genstore: missing -out: the directory to write the store to")
		os.Exit(2)
	}
	if err := generate(*out, s, rand.New(rand.NewPCG(*seed, 0))); err != nil {
		fmt.Fprintln(os.Stderr, "genstore:", err)
		os.Exit(1)
	}
}

func generate(dir string, s sizes, rng *rand.Rand) error {
	if s.groups < 1 || s.grants < s.groups || s.policies < s.grants/s.groups {
		return fmt.Errorf("invalid sizes: need groups >= 1, grants >= groups and policies >= grants/groups (got %d groups, %d grants, %d policies)", s.groups, s.grants, s.policies)
	}
	if err := os.MkdirAll(filepath.Join(dir, "policies"), 0o755); err != nil {
		return fmt.Errorf("failed to create store directory: %w", err)
	}
	steps := []struct {
		file  string
		write func(*bufio.Writer)
	}{
		{"users.yaml", func(w *bufio.Writer) { writeUsers(w, s) }},
		{"groups.yaml", func(w *bufio.Writer) { writeGroups(w, s, rng) }},
		{"grants.yaml", func(w *bufio.Writer) { writeGrants(w, s, rng) }},
		{"servers.yaml", func(w *bufio.Writer) { writeServers(w, s, rng) }},
	}
	for _, step := range steps {
		if err := writeFile(filepath.Join(dir, step.file), step.write); err != nil {
			return err
		}
	}
	for i := range s.policies {
		name := filepath.Join(dir, "policies", policyName(i)+".json")
		if err := writeFile(name, func(w *bufio.Writer) { writePolicy(w, i, rng) }); err != nil {
			return err
		}
	}
	return writeFile(filepath.Join(dir, "policies", "deny-server-delete.json"), func(w *bufio.Writer) {
		w.WriteString(`{"Version":"1.1","Statement":[{"Effect":"Deny","Action":["ecs:cloudServers:delete"]}]}` + "\n")
	})
}

func writeFile(path string, write func(*bufio.Writer)) error {
	file, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	w := bufio.NewWriter(file)
	write(w)
	if err := w.Flush(); err != nil {
		file.Close()
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return file.Close()
}

func userID(i int) string     { return fmt.Sprintf("u-g%05d", i) }
func groupID(i int) string    { return fmt.Sprintf("g-g%04d", i) }
func policyName(i int) string { return fmt.Sprintf("p-g%05d", i) }
func serverID(i int) string   { return fmt.Sprintf("s-g%05d", i) }

func project(i int) string {
	if i == 0 {
		return projectID
	}
	return fmt.Sprintf("%032x", 0xabc000+i)
}

func enterpriseProject(i int) string { return fmt.Sprintf("ep-g%04d", i) }

// The example account's users, groups, memberships and grants, so requests
// of the benchmark mix decide as on examples/policies.
const exampleUsers = `  - {id: u-0000, name: domain-admin, domain_id: ` + domainID + `, domain_name: ` + domainName + `, root: true}
  - {id: u-0001, name: admin-alice, domain_id: ` + domainID + `, domain_name: ` + domainName + `}
  - {id: u-0002, name: viewer, domain_id: ` + domainID + `, domain_name: ` + domainName + `}
  - {id: u-0003, name: operator-bob, domain_id: ` + domainID + `, domain_name: ` + domainName + `}
  - {id: u-0004, name: ep-dev-carol, domain_id: ` + domainID + `, domain_name: ` + domainName + `}
  - {id: u-0005, name: no-grants-dave, domain_id: ` + domainID + `, domain_name: ` + domainName + `}
`

const exampleGroups = `  - {id: g-ecs-admins, name: ecs-admins, domain_id: ` + domainID + `}
  - {id: g-ecs-viewers, name: ecs-viewers, domain_id: ` + domainID + `}
  - {id: g-ecs-operators, name: ecs-operators, domain_id: ` + domainID + `}
  - {id: g-ep-dev, name: ep-dev, domain_id: ` + domainID + `}
`

const exampleMemberships = `  - {group: g-ecs-admins, user: u-0001}
  - {group: g-ecs-viewers, user: u-0002}
  - {group: g-ecs-operators, user: u-0003}
  - {group: g-ep-dev, user: u-0004}
`

const exampleGrants = `  - {policy: ECS FullAccess, group: g-ecs-admins, scope: project, scope_id: ` + projectID + `}
  - {policy: ECS ReadOnlyAccess, group: g-ecs-viewers, scope: project, scope_id: ` + projectID + `}
  - {policy: ECS FullAccess, group: g-ecs-operators, scope: project, scope_id: ` + projectID + `}
  - {policy: deny-server-delete, group: g-ecs-operators, scope: domain}
  - {policy: ECS FullAccess, group: g-ep-dev, scope: enterprise_project, scope_id: ep-dev-0001}
`

const exampleServers = `  - {id: s-0001, project_id: ` + projectID + `, enterprise_project_id: "0"}
  - {id: s-0002, project_id: ` + projectID + `, enterprise_project_id: ep-dev-0001, tags: {team: dev}}
  - {id: s-0003, project_id: 1b2c3d4e5f60718293a4b5c6d7e8f90a, enterprise_project_id: "0"}
`

func writeUsers(w *bufio.Writer, s sizes) {
	w.WriteString("users:\n" + exampleUsers)
	for i := range s.users {
		fmt.Fprintf(w, "  - {id: %s, name: user-%05d, domain_id: %s, domain_name: %s}\n", userID(i), i, domainID, domainName)
	}
}

func writeGroups(w *bufio.Writer, s sizes, rng *rand.Rand) {
	w.WriteString("groups:\n" + exampleGroups)
	for i := range s.groups {
		fmt.Fprintf(w, "  - {id: %s, name: group-%04d, domain_id: %s}\n", groupID(i), i, domainID)
	}
	w.WriteString("memberships:\n" + exampleMemberships)
	for i := range s.users {
		// Distinct groups for one user: a random start and a fixed stride.
		first := rng.IntN(s.groups)
		for j := range min(s.groupsPerUser, s.groups) {
			fmt.Fprintf(w, "  - {group: %s, user: %s}\n", groupID((first+j*7919)%s.groups), userID(i))
		}
	}
}

// writeGrants gives every group grants/groups distinct policies, about 60%
// at project scope, 25% at enterprise-project scope and 15% at domain scope.
func writeGrants(w *bufio.Writer, s sizes, rng *rand.Rand) {
	w.WriteString("grants:\n" + exampleGrants)
	perGroup := s.grants / s.groups
	for g := range s.groups {
		first := rng.IntN(s.policies)
		for j := range perGroup {
			policy := policyName((first + j) % s.policies)
			switch roll := rng.IntN(100); {
			case roll < 60:
				fmt.Fprintf(w, "  - {policy: %s, group: %s, scope: project, scope_id: %s}\n", policy, groupID(g), project(rng.IntN(s.projects)))
			case roll < 85:
				fmt.Fprintf(w, "  - {policy: %s, group: %s, scope: enterprise_project, scope_id: %s}\n", policy, groupID(g), enterpriseProject(rng.IntN(s.enterpriseProjects)))
			default:
				fmt.Fprintf(w, "  - {policy: %s, group: %s, scope: domain}\n", policy, groupID(g))
			}
		}
	}
}

func writeServers(w *bufio.Writer, s sizes, rng *rand.Rand) {
	w.WriteString("servers:\n" + exampleServers)
	for i := range s.servers {
		fmt.Fprintf(w, "  - {id: %s, project_id: %s, enterprise_project_id: %s, tags: {team: t%02d}}\n",
			serverID(i), project(rng.IntN(s.projects)), enterpriseProject(rng.IntN(s.enterpriseProjects)), rng.IntN(20))
	}
}

// writePolicy writes one condition-free custom policy in Huawei's JSON form:
// one to three statements of three to eight actions, one policy in ten with
// a Deny statement.
func writePolicy(w *bufio.Writer, i int, rng *rand.Rand) {
	statements := make([]string, 0, 3)
	for s := range 1 + rng.IntN(3) {
		effect := "Allow"
		if s == 0 && i%10 == 9 {
			effect = "Deny"
		}
		size := 3 + rng.IntN(6)
		picked := make([]string, 0, size)
		seen := make(map[int]bool)
		for len(picked) < size {
			k := rng.IntN(len(actions))
			if !seen[k] {
				seen[k] = true
				picked = append(picked, `"`+actions[k]+`"`)
			}
		}
		statements = append(statements, `{"Effect":"`+effect+`","Action":[`+strings.Join(picked, ",")+`]}`)
	}
	w.WriteString(`{"Version":"1.1","Statement":[` + strings.Join(statements, ",") + "]}\n")
}
