package store

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/ecsauthz/ecsauthz/evaluator"
)

// The element shapes of a resource document. Field names are the schema's
// keys; any other key is an error.
type (
	userDoc struct {
		ID         string `yaml:"id" json:"id"`
		Name       string `yaml:"name" json:"name"`
		DomainID   string `yaml:"domain_id" json:"domain_id"`
		DomainName string `yaml:"domain_name,omitempty" json:"domain_name,omitempty"`
		Root       bool   `yaml:"root,omitempty" json:"root,omitempty"`
	}
	groupDoc struct {
		ID       string `yaml:"id" json:"id"`
		Name     string `yaml:"name" json:"name"`
		DomainID string `yaml:"domain_id" json:"domain_id"`
	}
	membershipDoc struct {
		Group string `yaml:"group" json:"group"`
		User  string `yaml:"user" json:"user"`
	}
	grantDoc struct {
		Policy  string `yaml:"policy" json:"policy"`
		Group   string `yaml:"group,omitempty" json:"group,omitempty"`
		User    string `yaml:"user,omitempty" json:"user,omitempty"`
		Scope   string `yaml:"scope" json:"scope"`
		ScopeID string `yaml:"scope_id,omitempty" json:"scope_id,omitempty"`
	}
	serverDoc struct {
		ID                  string            `yaml:"id" json:"id"`
		ProjectID           string            `yaml:"project_id" json:"project_id"`
		EnterpriseProjectID string            `yaml:"enterprise_project_id,omitempty" json:"enterprise_project_id,omitempty"`
		Tags                map[string]string `yaml:"tags,omitempty" json:"tags,omitempty"`
	}
)

// DefaultEnterpriseProject is the enterprise project of a server that names
// none: IAM's default enterprise project "0".
const DefaultEnterpriseProject = "0"

// resourceDoc collects the objects of the resource documents of a file
// store, with the locations of the objects that have no Source field.
type resourceDoc struct {
	data      evaluator.Data
	locations map[Kind][]string
}

func (r *resourceDoc) addLocation(k Kind, source string) {
	if r.locations == nil {
		r.locations = make(map[Kind][]string)
	}
	r.locations[k] = append(r.locations[k], source)
}

// parse reads one YAML resource document: a mapping with any of the keys
// users, groups, memberships, grants and servers, each a list. It returns
// every problem it finds, each a [*LoadError]. JSON documents go through
// [resourceDoc.parseJSON] instead.
func (r *resourceDoc) parse(file string, src []byte) (errs []error) {
	// go-yaml v1.19.2 panics on some malformed input (a nil node inside
	// a tagged sequence). A bad file must not stop the server.
	defer func() {
		if p := recover(); p != nil {
			errs = append(errs, &LoadError{File: file, Err: fmt.Errorf("invalid YAML: the parser failed: %v", p)})
		}
	}()
	f, err := parser.ParseBytes(src, 0)
	if err != nil {
		return []error{yamlLoadError(file, err)}
	}
	for _, doc := range f.Docs {
		if doc.Body == nil {
			continue // An empty document holds nothing.
		}
		m, ok := doc.Body.(ast.MapNode)
		if !ok {
			errs = append(errs, &LoadError{File: file, Line: nodeLine(doc.Body),
				Err: errors.New("document must be a mapping with keys users, groups, memberships, grants, servers")})
			continue
		}
		for it := m.MapRange(); it.Next(); {
			errs = append(errs, r.parseSection(file, it.Key(), it.Value())...)
		}
	}
	return errs
}

func (r *resourceDoc) parseSection(file string, key ast.MapKeyNode, value ast.Node) []error {
	name := key.GetToken().Value
	var elems []ast.Node
	switch v := value.(type) {
	case *ast.NullNode:
	case *ast.SequenceNode:
		elems = v.Values
	default:
		return []error{&LoadError{File: file, Line: nodeLine(value), Err: fmt.Errorf("%s must be a list", name)}}
	}

	var errs []error
	for _, elem := range elems {
		if err := r.parseElement(file, name, elem); err != nil {
			errs = append(errs, err)
		}
	}
	if name != "users" && name != "groups" && name != "memberships" && name != "grants" && name != "servers" {
		return []error{&LoadError{File: file, Line: nodeLine(key),
			Err: fmt.Errorf("unknown key %q: want users, groups, memberships, grants or servers", name)}}
	}
	return errs
}

// parseElement decodes one list element of section name and appends it.
func (r *resourceDoc) parseElement(file, name string, elem ast.Node) error {
	line := nodeLine(elem)
	var v any
	switch name {
	case "users":
		v = &userDoc{}
	case "groups":
		v = &groupDoc{}
	case "memberships":
		v = &membershipDoc{}
	case "grants":
		v = &grantDoc{}
	case "servers":
		v = &serverDoc{}
	default:
		return nil // parseSection reports the unknown key.
	}
	if err := yaml.NodeToValue(elem, v, yaml.Strict()); err != nil {
		return yamlLoadError(file, err)
	}
	return r.add(file, line, v)
}

// add appends one decoded element (a pointer to one of the element
// shapes) found at file:line.
func (r *resourceDoc) add(file string, line int, v any) error {
	source := file + ":" + strconv.Itoa(line)
	switch e := v.(type) {
	case *userDoc:
		r.data.Users = append(r.data.Users, evaluator.User(*e))
		r.addLocation(KindUser, source)
	case *groupDoc:
		r.data.Groups = append(r.data.Groups, evaluator.Group(*e))
		r.addLocation(KindGroup, source)
	case *membershipDoc:
		r.data.Memberships = append(r.data.Memberships, evaluator.Membership{GroupID: e.Group, UserID: e.User})
		r.addLocation(KindMembership, source)
	case *grantDoc:
		grant, err := e.grant(source)
		if err != nil {
			return &LoadError{File: file, Line: line, Err: err}
		}
		r.data.Grants = append(r.data.Grants, grant)
	case *serverDoc:
		r.data.Servers = append(r.data.Servers, e.server())
		r.addLocation(KindServer, source)
	}
	return nil
}

func (g grantDoc) grant(source string) (evaluator.Grant, error) {
	scope, err := ParseScope(g.Scope)
	if err != nil {
		return evaluator.Grant{}, fmt.Errorf("grant: %w", err)
	}
	return evaluator.Grant{Policy: g.Policy, GroupID: g.Group, UserID: g.User,
		Scope: scope, ScopeID: g.ScopeID, Source: source}, nil
}

func grantToDoc(g evaluator.Grant) grantDoc {
	return grantDoc{Policy: g.Policy, Group: g.GroupID, User: g.UserID, Scope: ScopeName(g.Scope), ScopeID: g.ScopeID}
}

func (s serverDoc) server() evaluator.Server {
	ep := s.EnterpriseProjectID
	if ep == "" {
		ep = DefaultEnterpriseProject
	}
	return evaluator.Server{ID: s.ID, ProjectID: s.ProjectID, EnterpriseProjectID: ep, Tags: s.Tags}
}

func nodeLine(n ast.Node) int {
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

// yamlLoadError turns a go-yaml error into a [*LoadError] with the line
// of the offending token and the message without the source excerpt.
func yamlLoadError(file string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		line := 0
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			line = tk.Position.Line
		}
		return &LoadError{File: file, Line: line, Err: errors.New(ye.GetMessage())}
	}
	return &LoadError{File: file, Err: err}
}
