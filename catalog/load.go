package catalog

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
)

//go:embed data/*.yaml
var builtinData embed.FS

// Catalog is a loaded, validated and compiled route catalog. It is safe for
// concurrent use and never changes after loading.
type Catalog struct {
	routes  []*Route
	actions []*Action
	byName  map[string]*Action   // reported name to action
	byAlias map[string][]*Action // every name (reported or alias) to the actions it names
	root    node
}

// compiledRoute is a route with everything Resolve needs precomputed.
type compiledRoute struct {
	route      *Route
	segments   []segment
	paramNames []string
	// projectIndex and serverIndex index paramNames; serverIndex is -1 when
	// the resource parameter does not name a server.
	projectIndex int
	serverIndex  int
	body         *bodyRule
}

// Load returns the built-in catalog embedded in the binary: the files of
// catalog/data, loaded in name order.
func Load() (*Catalog, error) {
	sub, err := fs.Sub(builtinData, "data")
	if err != nil {
		return nil, err
	}
	return LoadFS(sub)
}

// LoadFS loads, validates and compiles the catalog files at paths in fsys.
// With no paths it loads every *.yaml file in the root of fsys, in name
// order. Errors name the file, the line of the route entry and the field.
func LoadFS(fsys fs.FS, paths ...string) (*Catalog, error) {
	if len(paths) == 0 {
		matches, err := fs.Glob(fsys, "*.yaml")
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, errors.New("no *.yaml catalog files found")
		}
		paths = matches
	}

	builder := newBuilder()
	for _, name := range paths {
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("failed to read catalog file: %w", err)
		}
		if err := builder.addFile(path.Clean(name), data); err != nil {
			return nil, err
		}
	}
	return builder.build()
}

// Routes returns every route in load order. The slice is shared and must
// not be modified.
func (c *Catalog) Routes() []*Route { return c.routes }

// Actions returns every distinct action that any route may require,
// including those that only body rules add. Actions()[i].ID == i. The slice
// is shared and must not be modified.
func (c *Catalog) Actions() []*Action { return c.actions }

// LookupAction returns the action whose reported name is name or, failing
// that, the first action (by ID) that has name as an alias. It returns nil
// when no action has that name. One old name can be the alias of several
// actions; [Catalog.LookupActions] returns all of them.
func (c *Catalog) LookupAction(name string) *Action {
	if a := c.byName[name]; a != nil {
		return a
	}
	if list := c.byAlias[name]; len(list) > 0 {
		return list[0]
	}
	return nil
}

// LookupActions returns every action that name names, as reported name or
// alias, ordered by ID. It returns nil when none does.
func (c *Catalog) LookupActions(name string) []*Action { return c.byAlias[name] }

// builder collects catalog files and compiles them into a Catalog.
type builder struct {
	catalog *Catalog
	aliases map[string][]string // action name to aliases, from every file
	aliasAt map[string]string   // action name to the file declaring its aliases
	pending []pendingRoute
}

type pendingRoute struct {
	spec routeSpec
	file string
	line int
}

func newBuilder() *builder {
	return &builder{
		catalog: &Catalog{byName: map[string]*Action{}, byAlias: map[string][]*Action{}},
		aliases: map[string][]string{},
		aliasAt: map[string]string{},
	}
}

func (b *builder) addFile(name string, data []byte) error {
	spec, lines, err := decodeFile(name, data)
	if err != nil {
		return err
	}

	names := make([]string, 0, len(spec.Aliases))
	for action := range spec.Aliases {
		names = append(names, action)
	}
	sort.Strings(names)
	for _, action := range names {
		if err := b.addAliases(name, action, spec.Aliases[action]); err != nil {
			return err
		}
	}

	for i, route := range spec.Routes {
		b.pending = append(b.pending, pendingRoute{spec: route, file: name, line: lines[i]})
	}
	return nil
}

func (b *builder) addAliases(file, action string, aliases []string) error {
	where := fmt.Sprintf("%s: aliases[%q]", file, action)
	if err := validateActionName(action); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if previous, ok := b.aliasAt[action]; ok {
		return fmt.Errorf("%s: aliases of %q are already declared in %s", where, action, previous)
	}
	if len(aliases) == 0 {
		return fmt.Errorf("%s: the alias list is empty", where)
	}
	if err := validateActionList("aliases", aliases); err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	if slices.Contains(aliases, action) {
		return fmt.Errorf("%s: an action cannot be its own alias", where)
	}
	b.aliases[action] = aliases
	b.aliasAt[action] = file
	return nil
}

func (b *builder) build() (*Catalog, error) {
	for _, p := range b.pending {
		where := fmt.Sprintf("%s:%d: route %q", p.file, p.line, p.spec.Method+" "+p.spec.Path)
		compiled, err := b.compileRoute(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := b.catalog.root.insert(compiled); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", p.file, p.line, err)
		}
		b.catalog.routes = append(b.catalog.routes, compiled.route)
	}

	for action, file := range b.aliasAt {
		if b.catalog.byName[action] == nil {
			return nil, fmt.Errorf("%s: aliases[%q]: no route requires this action", file, action)
		}
	}
	if len(b.catalog.routes) == 0 {
		return nil, errors.New("the catalog has no routes")
	}
	return b.catalog, nil
}

// action returns the catalog's action named name, creating it on first use.
func (b *builder) action(name string) *Action {
	if a := b.catalog.byName[name]; a != nil {
		return a
	}
	a := &Action{ID: len(b.catalog.actions), Name: name, Aliases: b.aliases[name]}
	b.catalog.actions = append(b.catalog.actions, a)
	b.catalog.byName[name] = a
	for _, n := range append([]string{name}, a.Aliases...) {
		b.catalog.byAlias[n] = append(b.catalog.byAlias[n], a)
	}
	return a
}

func (b *builder) actionList(names []string) []*Action {
	list := make([]*Action, len(names))
	for i, name := range names {
		list[i] = b.action(name)
	}
	return list
}
