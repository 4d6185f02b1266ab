package catalog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// importedRoute is one route read from a permission table.
type importedRoute struct {
	method, path      string
	description       string
	actions           []string
	variants          []importedVariant
	enterpriseProject bool
}

// importedVariant is one alternative action set of a table row, such as
// "create with a new EIP", with the actions it adds to the row's common ones.
type importedVariant struct {
	label string
	extra []string
}

// Import reads a permission table in the HTML-in-markdown form of the Huawei
// Cloud API reference and returns catalog YAML with one route per path in the
// table. The table has four columns: API ("METHOD /path", one per paragraph),
// description, actions (<li> items, all required) and scope ("支持：" or
// "不支持：" followed by 项目(Project) and 企业项目(Enterprise Project)).
//
// A row whose actions cell lists alternative sets as nested lists gets the
// actions common to every set, and a YAML comment names what each set adds,
// because the table does not say which body field selects a set. The output
// also leaves description_en empty and sets no instance or tag flag, since
// the table has neither. So `ecsauthz catalog lint` rejects the output until
// those are filled in.
func Import(r io.Reader) ([]byte, error) {
	doc, err := html.Parse(r)
	if err != nil {
		return nil, fmt.Errorf("failed to parse the table HTML: %w", err)
	}
	routes, err := importTable(doc)
	if err != nil {
		return nil, err
	}
	return formatImported(routes), nil
}

func importTable(doc *html.Node) ([]importedRoute, error) {
	tbody := findElement(doc, atom.Tbody)
	if tbody == nil {
		return nil, errors.New("no <tbody> found: expected a permission table in HTML form")
	}

	var routes []importedRoute
	rowIndex := 0
	for row := range tbody.ChildNodes() {
		if row.Type != html.ElementNode || row.DataAtom != atom.Tr {
			continue
		}
		rowIndex++
		rowRoutes, err := importRow(row)
		if err != nil {
			return nil, fmt.Errorf("table row %d: %w", rowIndex, err)
		}
		routes = append(routes, rowRoutes...)
	}
	if len(routes) == 0 {
		return nil, errors.New("the table has no rows")
	}
	return routes, nil
}

func importRow(row *html.Node) ([]importedRoute, error) {
	var cells []*html.Node
	for cell := range row.ChildNodes() {
		if cell.Type == html.ElementNode && cell.DataAtom == atom.Td {
			cells = append(cells, cell)
		}
	}
	if len(cells) != 4 {
		return nil, fmt.Errorf("found %d cells, want 4 (API, description, actions, scope)", len(cells))
	}

	description := normalizeSpace(textOf(cells[1]))
	if description == "" {
		return nil, errors.New("the description cell is empty")
	}
	actions, variants, err := importActions(cells[2])
	if err != nil {
		return nil, err
	}
	enterpriseProject := importScope(cells[3])

	var routes []importedRoute
	for p := range cells[0].Descendants() {
		if p.Type != html.ElementNode || p.DataAtom != atom.P {
			continue
		}
		api := normalizeSpace(textOf(p))
		if api == "" {
			continue
		}
		method, path, ok := strings.Cut(api, " ")
		if !ok || !slices.Contains(knownMethods, method) {
			return nil, fmt.Errorf("API %q does not have the form \"METHOD /path\"", api)
		}
		if _, err := parseTemplate(path); err != nil {
			return nil, fmt.Errorf("API %q: %w", api, err)
		}
		routes = append(routes, importedRoute{
			method: method, path: path, description: description,
			actions: actions, variants: variants, enterpriseProject: enterpriseProject,
		})
	}
	if len(routes) == 0 {
		return nil, errors.New("the API cell names no \"METHOD /path\"")
	}
	return routes, nil
}

// importActions reads the actions cell. Top-level <li> items are required
// actions. An <li> with a nested list is an alternative set: its own text is
// the label and the nested items are the set's actions.
func importActions(cell *html.Node) ([]string, []importedVariant, error) {
	var plain []string
	var sets [][]string
	var labels []string
	for list := range cell.ChildNodes() {
		if list.Type != html.ElementNode || list.DataAtom != atom.Ul {
			continue
		}
		for item := range list.ChildNodes() {
			if item.Type != html.ElementNode || item.DataAtom != atom.Li {
				continue
			}
			nested := findElement(item, atom.Ul)
			if nested == nil {
				plain = append(plain, normalizeSpace(textOf(item)))
				continue
			}
			var set []string
			for sub := range nested.ChildNodes() {
				if sub.Type == html.ElementNode && sub.DataAtom == atom.Li {
					set = append(set, normalizeSpace(textOf(sub)))
				}
			}
			labels = append(labels, normalizeSpace(ownText(item)))
			sets = append(sets, set)
		}
	}

	if len(plain) > 0 && len(sets) > 0 {
		return nil, nil, errors.New("the actions cell mixes plain actions and alternative sets")
	}
	actions := plain
	var variants []importedVariant
	if len(sets) > 0 {
		actions = commonActions(sets)
		for i, set := range sets {
			var extra []string
			for _, a := range set {
				if !slices.Contains(actions, a) {
					extra = append(extra, a)
				}
			}
			variants = append(variants, importedVariant{label: labels[i], extra: extra})
		}
	}
	if len(actions) == 0 {
		return nil, nil, errors.New("the actions cell lists no action common to every case")
	}
	if err := validateActionList("actions", actions); err != nil {
		return nil, nil, err
	}
	return actions, variants, nil
}

// commonActions returns the actions present in every set, in the order of
// the first set.
func commonActions(sets [][]string) []string {
	var common []string
	for _, a := range sets[0] {
		inAll := true
		for _, set := range sets[1:] {
			inAll = inAll && slices.Contains(set, a)
		}
		if inAll {
			common = append(common, a)
		}
	}
	return common
}

// importScope reports whether the scope cell lists 企业项目 (Enterprise
// Project) under 支持 (supported) rather than 不支持 (not supported).
func importScope(cell *html.Node) bool {
	supported := true
	enterpriseProject := false
	for n := range cell.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		text := normalizeSpace(textOf(n))
		switch {
		case n.DataAtom == atom.Li && strings.HasPrefix(text, "不支持"):
			supported = false
		case n.DataAtom == atom.Li && strings.HasPrefix(text, "支持"):
			supported = true
		case n.DataAtom == atom.P && strings.Contains(text, "企业项目"):
			enterpriseProject = supported
		}
	}
	return enterpriseProject
}

func findElement(n *html.Node, a atom.Atom) *html.Node {
	for d := range n.Descendants() {
		if d.Type == html.ElementNode && d.DataAtom == a {
			return d
		}
	}
	return nil
}

// textOf returns the text of n and all its descendants.
func textOf(n *html.Node) string {
	var b strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			b.WriteString(d.Data)
		}
	}
	return b.String()
}

// ownText returns the text of n outside its nested lists.
func ownText(n *html.Node) string {
	var b strings.Builder
	for c := range n.ChildNodes() {
		switch {
		case c.Type == html.TextNode:
			b.WriteString(c.Data)
		case c.Type == html.ElementNode && c.DataAtom != atom.Ul:
			b.WriteString(textOf(c))
		}
	}
	return b.String()
}

func normalizeSpace(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\u00a0", " ")), " ")
}

func formatImported(routes []importedRoute) []byte {
	var b bytes.Buffer
	b.WriteString("# Generated by `ecsauthz catalog import`. Fill in description_en, the\n")
	b.WriteString("# instance and tag flags and any body rule before use.\n")
	b.WriteString("routes:\n")
	for i, r := range routes {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "  - method: %s\n", r.method)
		fmt.Fprintf(&b, "    path: %s\n", r.path)
		fmt.Fprintf(&b, "    description_zh: %s\n", strconv.Quote(r.description))
		b.WriteString("    description_en: \"\"\n")
		b.WriteString("    actions:\n")
		for _, a := range r.actions {
			fmt.Fprintf(&b, "      - %s\n", a)
		}
		if r.enterpriseProject {
			b.WriteString("    enterprise_project: true\n")
		}
		if params, _ := parseTemplate(r.path); slices.Contains(paramNames(params), serverParam) {
			fmt.Fprintf(&b, "    resource_param: %s\n", serverParam)
		}
		if len(r.variants) > 0 {
			b.WriteString("    # The table lists alternative action sets. Declare a body rule\n")
			b.WriteString("    # that adds, for each case:\n")
			for _, v := range r.variants {
				fmt.Fprintf(&b, "    #   %s: %s\n", v.label, strings.Join(v.extra, ", "))
			}
		}
	}
	return b.Bytes()
}
