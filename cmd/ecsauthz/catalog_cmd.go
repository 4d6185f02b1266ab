package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/ecsauthz/ecsauthz/catalog"
)

const catalogUsage = `Usage:
  ecsauthz catalog import FILE
  ecsauthz catalog list [--format json|table] [FILE...]
  ecsauthz catalog lint FILE...

import reads a Huawei Cloud permission table in the HTML-in-markdown form of
the ECS API reference (FILE "-" reads standard input) and prints catalog YAML.
The output lacks English descriptions, instance and tag flags and body rules,
which the table does not carry, so lint rejects it until they are filled in.

list prints the built-in catalog, or the catalog made of the given files:
method, path, actions with their aliases, body rules and flags. The table
wraps long cells onto continuation lines; --format json prints one route per
object.

lint loads the given catalog files together, validates and compiles them, and
prints each problem with its file and line. It exits 1 when they are invalid.
It also prints a note for each pair of routes whose templates overlap (each
has a literal where the other has a parameter), with the route that a request
fitting both resolves to.
`

// runCatalog runs "ecsauthz catalog import|list|lint" and returns the exit
// code: 0 on success, 1 on failure, 2 on usage errors.
func runCatalog(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, catalogUsage)
		return 2
	}
	switch args[0] {
	case "import":
		return runCatalogImport(args[1:], stdout, stderr)
	case "list":
		return runCatalogList(args[1:], stdout, stderr)
	case "lint":
		return runCatalogLint(args[1:], stdout, stderr)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, catalogUsage)
		return 0
	default:
		fmt.Fprintf(stderr, "ecsauthz catalog: unknown subcommand %q\n\n%s", args[0], catalogUsage)
		return 2
	}
}

func runCatalogImport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz catalog import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprint(stderr, "ecsauthz catalog import: name exactly one table file\n\n"+catalogUsage)
		return 2
	}

	input := io.Reader(os.Stdin)
	if name := fs.Arg(0); name != "-" {
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "ecsauthz catalog import: %v\n", err)
			return 1
		}
		defer f.Close()
		input = f
	}

	out, err := catalog.Import(input)
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz catalog import: failed to import %s: %v\n", fs.Arg(0), err)
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintf(stderr, "ecsauthz catalog import: failed to write the output: %v\n", err)
		return 1
	}
	return 0
}

func runCatalogLint(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz catalog lint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprint(stderr, "ecsauthz catalog lint: name at least one catalog file\n\n"+catalogUsage)
		return 2
	}

	c, err := loadCatalogFiles(fs.Args())
	if err != nil {
		fmt.Fprintln(stdout, err)
		return 1
	}

	// Overlapping templates are legal, because the matcher decides them by
	// their literals. They are listed so that a reviewer can check each
	// decision.
	for _, o := range c.Overlaps() {
		winner := "no route"
		if o.Winner != nil {
			winner = fmt.Sprintf("%s:%d", o.Winner.File, o.Winner.Line)
		}
		fmt.Fprintf(stdout, "note: %s %s (%s:%d) and %s (%s:%d) both fit %s, which resolves to %s\n",
			o.First.Method, o.First.Path, o.First.File, o.First.Line, o.Second.Path, o.Second.File, o.Second.Line, o.Example, winner)
	}
	fmt.Fprintf(stdout, "ok: %s, %s in %s\n", count(len(c.Routes()), "route", "routes"), count(len(c.Actions()), "action", "actions"), count(fs.NArg(), "file", "files"))
	return 0
}

// loadCatalogFiles loads catalog files named by OS paths. Errors and
// Route.File name each file as it was given.
func loadCatalogFiles(files []string) (*catalog.Catalog, error) {
	return catalog.LoadFS(osFiles{}, files...)
}

// osFiles opens files by their OS path, so that LoadFS reports them by the
// names given on the command line. Unlike os.DirFS it accepts absolute and
// "../" paths, which is what a command-line tool needs.
type osFiles struct{}

func (osFiles) Open(name string) (fs.File, error) { return os.Open(name) }

func runCatalogList(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ecsauthz catalog list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "table", "output `format`: json or table")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *format != "json" && *format != "table" {
		fmt.Fprintf(stderr, "ecsauthz catalog list: invalid --format %q, want json or table\n", *format)
		return 2
	}

	var c *catalog.Catalog
	var err error
	if fs.NArg() == 0 {
		c, err = catalog.Load()
	} else {
		c, err = loadCatalogFiles(fs.Args())
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz catalog list: failed to load the catalog: %v\n", err)
		return 1
	}

	if *format == "json" {
		err = writeCatalogJSON(stdout, c)
	} else {
		err = writeCatalogTable(stdout, c)
	}
	if err != nil {
		fmt.Fprintf(stderr, "ecsauthz catalog list: failed to write the output: %v\n", err)
		return 1
	}
	return 0
}

// routeJSON is the JSON form of one route in "catalog list".
type routeJSON struct {
	Method                 string       `json:"method"`
	Path                   string       `json:"path"`
	DescriptionZH          string       `json:"description_zh"`
	DescriptionEN          string       `json:"description_en"`
	Actions                []actionJSON `json:"actions"`
	Body                   *bodyJSON    `json:"body,omitempty"`
	EnterpriseProject      bool         `json:"enterprise_project"`
	Instance               bool         `json:"instance"`
	Tag                    bool         `json:"tag"`
	ProjectParam           string       `json:"project_param"`
	ResourceParam          string       `json:"resource_param,omitempty"`
	EnterpriseProjectQuery string       `json:"enterprise_project_query,omitempty"`
	Source                 string       `json:"source"`
}

type actionJSON struct {
	Name    string   `json:"name"`
	Aliases []string `json:"aliases,omitempty"`
}

type bodyJSON struct {
	Present             map[string][]actionJSON `json:"present,omitempty"`
	Keys                map[string][]actionJSON `json:"keys,omitempty"`
	ServerIDs           string                  `json:"server_ids,omitempty"`
	EnterpriseProjectID string                  `json:"enterprise_project_id,omitempty"`
}

func actionsJSON(actions []*catalog.Action) []actionJSON {
	out := make([]actionJSON, len(actions))
	for i, a := range actions {
		out[i] = actionJSON{Name: a.Name, Aliases: a.Aliases}
	}
	return out
}

func writeCatalogJSON(w io.Writer, c *catalog.Catalog) error {
	routes := make([]routeJSON, 0, len(c.Routes()))
	for _, r := range c.Routes() {
		rj := routeJSON{
			Method: r.Method, Path: r.Path, DescriptionZH: r.DescriptionZH, DescriptionEN: r.DescriptionEN,
			Actions:           actionsJSON(r.Actions),
			EnterpriseProject: r.EnterpriseProject, Instance: r.Instance, Tag: r.Tag,
			ProjectParam: r.ProjectParam, ResourceParam: r.ResourceParam,
			EnterpriseProjectQuery: r.EnterpriseProjectQuery,
			Source:                 fmt.Sprintf("%s:%d", r.File, r.Line),
		}
		if b := r.BodyRule; b != nil {
			rj.Body = &bodyJSON{ServerIDs: b.ServerIDs, EnterpriseProjectID: b.EnterpriseProjectID}
			for _, p := range b.Present {
				if rj.Body.Present == nil {
					rj.Body.Present = map[string][]actionJSON{}
				}
				rj.Body.Present[p.Field] = actionsJSON(p.Actions)
			}
			for _, k := range b.Keys {
				if rj.Body.Keys == nil {
					rj.Body.Keys = map[string][]actionJSON{}
				}
				rj.Body.Keys[k.Key] = actionsJSON(k.Actions)
			}
		}
		routes = append(routes, rj)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(routes)
}

// maxCellWidth is the width in bytes at which the table wraps the actions,
// aliases and body columns onto continuation lines.
const maxCellWidth = 60

func writeCatalogTable(w io.Writer, c *catalog.Catalog) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "METHOD\tPATH\tACTIONS\tALIASES\tBODY\tEP\tINST\tTAG")
	for _, r := range c.Routes() {
		actions := wrapCell(joinNames(r.Actions))
		aliases := wrapCell(joinAliases(r.Actions))
		body := wrapCell(describeBody(r.BodyRule))
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			r.Method, r.Path, actions[0], aliases[0], body[0],
			yesNo(r.EnterpriseProject), yesNo(r.Instance), yesNo(r.Tag))
		for i := 1; i < max(len(actions), len(aliases), len(body)); i++ {
			fmt.Fprintf(tw, "\t\t%s\t%s\t%s\t\t\t\n", lineAt(actions, i), lineAt(aliases, i), lineAt(body, i))
		}
	}
	return tw.Flush()
}

// wrapCell splits text into lines of at most maxCellWidth bytes. It breaks
// after a comma or at a space, so a line that continues ends with a comma
// or, at a space, with nothing. A word longer than the width gets a line of
// its own. Empty text gives "-".
func wrapCell(text string) []string {
	if text == "" {
		return []string{"-"}
	}
	var lines []string
	line := ""
	for text != "" {
		end := strings.IndexAny(text, ", ")
		var word string
		switch {
		case end < 0:
			word, text = text, ""
		case text[end] == ',':
			word, text = text[:end+1], text[end+1:]
		default:
			word, text = text[:end], text[end+1:]
		}
		sep := ""
		if line != "" && !strings.HasSuffix(line, ",") {
			sep = " "
		}
		if line != "" && len(line)+len(sep)+len(word) > maxCellWidth {
			lines = append(lines, line)
			line, sep = "", ""
		}
		line += sep + word
	}
	return append(lines, line)
}

func lineAt(lines []string, i int) string {
	if i < len(lines) {
		return lines[i]
	}
	return ""
}

func actionNames(actions []*catalog.Action) []string {
	names := make([]string, len(actions))
	for i, a := range actions {
		names[i] = a.Name
	}
	return names
}

func joinNames(actions []*catalog.Action) string {
	return strings.Join(actionNames(actions), ",")
}

func joinAliases(actions []*catalog.Action) string {
	var parts []string
	for _, a := range actions {
		if len(a.Aliases) > 0 {
			parts = append(parts, a.Name+"="+strings.Join(a.Aliases, "|"))
		}
	}
	return strings.Join(parts, ",")
}

// describeBody summarizes a body rule in one table cell, for example
// "server.publicip.eip:+vpc:publicIps:create" or "os-start:ecs:servers:start".
func describeBody(b *catalog.BodyRule) string {
	if b == nil {
		return ""
	}
	var parts []string
	for _, p := range b.Present {
		parts = append(parts, p.Field+":+"+joinNames(p.Actions))
	}
	for _, k := range b.Keys {
		parts = append(parts, k.Key+":"+joinNames(k.Actions))
	}
	if b.ServerIDs != "" {
		parts = append(parts, "ids="+b.ServerIDs)
	}
	if b.EnterpriseProjectID != "" {
		parts = append(parts, "ep="+b.EnterpriseProjectID)
	}
	return strings.Join(parts, " ")
}

func yesNo(b bool) string {
	if b {
		return "Y"
	}
	return "N"
}
