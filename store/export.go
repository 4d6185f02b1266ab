package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// WriteDir writes data as a file store into dir, which must be empty or
// not exist: users.yaml, groups.yaml (groups and memberships), grants.yaml,
// servers.yaml and one policies/<name>.json per policy. A policy with no
// description and a name that is a safe file name is written as the bare
// IAM document. Any other policy uses the wrapper form. Reading dir with
// [NewFileStore] returns data again.
func WriteDir(dir string, data *evaluator.Data) error {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return fmt.Errorf("export directory %s is not empty", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, PoliciesDir), 0o755); err != nil {
		return err
	}

	var users []userDoc
	for _, u := range data.Users {
		users = append(users, userDoc(u))
	}
	var groups []groupDoc
	for _, g := range data.Groups {
		groups = append(groups, groupDoc(g))
	}
	var members []membershipDoc
	for _, m := range data.Memberships {
		members = append(members, membershipDoc{Group: m.GroupID, User: m.UserID})
	}
	var grants []grantDoc
	for _, g := range data.Grants {
		grants = append(grants, grantToDoc(g))
	}
	var servers []serverDoc
	for _, s := range data.Servers {
		servers = append(servers, serverDoc{ID: s.ID, ProjectID: s.ProjectID, EnterpriseProjectID: s.EnterpriseProjectID, Tags: s.Tags})
	}

	errs := []error{
		writeYAML(filepath.Join(dir, "users.yaml"), map[string]any{"users": users}),
		writeYAML(filepath.Join(dir, "groups.yaml"), yaml.MapSlice{{Key: "groups", Value: groups}, {Key: "memberships", Value: members}}),
		writeYAML(filepath.Join(dir, "grants.yaml"), map[string]any{"grants": grants}),
		writeYAML(filepath.Join(dir, "servers.yaml"), map[string]any{"servers": servers}),
	}
	used := make(map[string]bool)
	for _, p := range data.Policies {
		errs = append(errs, writePolicyFile(filepath.Join(dir, PoliciesDir), p, used))
	}
	return errors.Join(errs...)
}

func writeYAML(path string, v any) error {
	b, err := yaml.MarshalWithOptions(v, yaml.IndentSequence(true))
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", path, err)
	}
	return os.WriteFile(path, b, 0o644)
}

// writePolicyFile writes p into dir under a file name not in used.
func writePolicyFile(dir string, p evaluator.Policy, used map[string]bool) error {
	var doc bytes.Buffer
	if err := json.Indent(&doc, p.Document, "", "    "); err != nil {
		return fmt.Errorf("policy %q: invalid document: %w", p.Name, err)
	}
	base := safeFileName(p.Name)
	if base == p.Name && p.Description == "" && !used[strings.ToLower(base)] {
		used[strings.ToLower(base)] = true
		doc.WriteByte('\n')
		return os.WriteFile(filepath.Join(dir, base+".json"), doc.Bytes(), 0o644)
	}

	name := base
	for i := 2; used[strings.ToLower(name)]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	used[strings.ToLower(name)] = true
	b, err := json.MarshalIndent(policyWrapper{Name: p.Name, Description: p.Description, Policy: doc.Bytes()}, "", "    ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, name+".json"), append(b, '\n'), 0o644)
}

// safeFileName replaces every byte of name outside [A-Za-z0-9 ._-] with
// '_' and a leading dot, which would hide the file, with '_'.
func safeFileName(name string) string {
	b := []byte(name)
	for i, c := range b {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == ' ' || c == '.' || c == '_' || c == '-'
		if !ok || (i == 0 && c == '.') {
			b[i] = '_'
		}
	}
	if len(b) == 0 {
		return "_"
	}
	return string(b)
}
