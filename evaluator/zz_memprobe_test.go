//go:build memprobe

package evaluator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"unsafe"
)

func loadGen(t *testing.T, dir string) *Data {
	d := &Data{}
	var users struct {
		Users []struct {
			ID, Name, Domain_ID, Domain_Name string
			Root                             bool
		}
	}
	var groups struct {
		Groups      []struct{ ID, Name, Domain_ID string }
		Memberships []struct{ Group, User string }
	}
	var grants struct {
		Grants []struct{ Policy, Group, Scope, Scope_ID string }
	}
	var servers struct {
		Servers []struct {
			ID, Project_ID, Enterprise_Project_ID string
			Tags                                  map[string]string
		}
	}
	rd := func(name string, v any) {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatal(err)
		}
	}
	rd("users.json", &users)
	rd("groups.json", &groups)
	rd("grants.json", &grants)
	rd("servers.json", &servers)
	for _, u := range users.Users {
		d.Users = append(d.Users, User{ID: u.ID, Name: u.Name, DomainID: u.Domain_ID, DomainName: u.Domain_Name, Root: u.Root})
	}
	for _, g := range groups.Groups {
		d.Groups = append(d.Groups, Group{ID: g.ID, Name: g.Name, DomainID: g.Domain_ID})
	}
	for _, m := range groups.Memberships {
		d.Memberships = append(d.Memberships, Membership{GroupID: m.Group, UserID: m.User})
	}
	scopes := map[string]ScopeKind{"domain": ScopeDomain, "project": ScopeProject, "enterprise_project": ScopeEnterpriseProject, "global": ScopeGlobal}
	for _, g := range grants.Grants {
		d.Grants = append(d.Grants, Grant{Policy: g.Policy, GroupID: g.Group, Scope: scopes[g.Scope], ScopeID: g.Scope_ID})
	}
	for _, s := range servers.Servers {
		d.Servers = append(d.Servers, Server{ID: s.ID, ProjectID: s.Project_ID, EnterpriseProjectID: s.Enterprise_Project_ID, Tags: s.Tags})
	}
	files, _ := filepath.Glob(filepath.Join(dir, "policies", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		name := filepath.Base(f)
		d.Policies = append(d.Policies, Policy{Name: name[:len(name)-5], Document: b})
	}
	return d
}

func live() float64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / (1 << 20)
}

func TestMemProbe(t *testing.T) {
	dir := os.Getenv("MEMPROBE_DIR")
	cat := testCatalog(t)
	base := live()
	data := loadGen(t, dir)
	withData := live()
	e, _, err := Compile(data, cat, Config{})
	if err != nil {
		t.Fatal(err)
	}
	both := live()
	data = nil
	engineOnly := live()
	t.Logf("actions %d; data %.1f MiB, engine+data %.1f, engine only %.1f", len(e.actions), withData-base, both-base, engineOnly-base)
	buckets := map[*bucket]bool{}
	slots := 0
	for _, p := range e.principals {
		for _, b := range append(append([]*bucket{p.domain, p.global}, p.projects...), p.enterpriseProjects...) {
			if b != nil {
				buckets[b] = true
				slots++
			}
		}
	}
	allowBy, denyBy, slow, pols := 0, 0, 0, 0
	for b := range buckets {
		if b.statements != nil { allowBy += len(b.statements.allowBy) }
		if b.statements != nil { denyBy += len(b.statements.denyBy) }
		slow += len(b.slow)
		pols += len(b.policies)
	}
	n := len(buckets)
	t.Logf("principals %d, bucket slots %d, unique buckets %d (struct %d B), avg allowBy %.1f denyBy %.1f slow %.1f policies %.1f, bitset words %d",
		len(e.principals), slots, n, unsafe.Sizeof(bucket{}), float64(allowBy)/float64(n), float64(denyBy)/float64(n), float64(slow)/float64(n), float64(pols)/float64(n), len(newBitset(len(e.actions))))
	runtime.KeepAlive(e)
}
