package terraform

import (
	"fmt"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// danglingReferences lists every reference to a resource, data source,
// variable or local value that the configuration does not declare: what
// `terraform validate` would report first, checked without the provider.
func danglingReferences(c *tfConfig) []string {
	declared := map[string]bool{}
	for _, b := range c.blocks {
		switch b.Type {
		case "resource":
			declared[b.Labels[0]+"."+b.Labels[1]] = true
		case "data":
			declared["data."+b.Labels[0]+"."+b.Labels[1]] = true
		case "variable":
			declared["var."+b.Labels[0]] = true
		}
	}
	for name := range c.locals {
		declared["local."+name] = true
	}
	var out []string
	for _, b := range c.blocks {
		iterators := dynamicIterators(b.Body)
		_, forEach := b.Body.Attributes["for_each"]
		_, counted := b.Body.Attributes["count"]
		for _, tr := range traversals(b.Body) {
			ref, ok := referenceName(tr)
			if ok && !declared[ref] && !iterators[tr.RootName()] {
				out = append(out, fmt.Sprintf("%s (%s): %s is not declared", b.name(), tr.SourceRange(), ref))
			}
			// each and count exist only in a block that sets for_each or
			// count (terraform validate: "each.key" in a resource without
			// for_each is an error).
			if root := tr.RootName(); (root == "each" && !forEach) || (root == "count" && !counted) {
				out = append(out, fmt.Sprintf("%s (%s): %s.… without %s", b.name(), tr.SourceRange(), root, map[string]string{"each": "for_each", "count": "count"}[root]))
			}
		}
	}
	sort.Strings(out)
	return out
}

// referenceName names what a traversal refers to, or ok=false for the
// names Terraform provides (each, count, path, self, terraform).
func referenceName(tr hcl.Traversal) (string, bool) {
	root := tr.RootName()
	attrs := []string{}
	for _, step := range tr[1:] {
		a, isAttr := step.(hcl.TraverseAttr)
		if !isAttr {
			break
		}
		attrs = append(attrs, a.Name)
	}
	switch {
	case root == "each" || root == "count" || root == "path" || root == "self" || root == "terraform":
		return "", false
	case root == "var" || root == "local":
		if len(attrs) < 1 {
			return root, true
		}
		return root + "." + attrs[0], true
	case root == "data":
		if len(attrs) < 2 {
			return "data", true
		}
		return "data." + attrs[0] + "." + attrs[1], true
	case strings.Contains(root, "_"): // a resource type
		if len(attrs) < 1 {
			return root, true
		}
		return root + "." + attrs[0], true
	}
	return "", false
}

// traversals returns every variable traversal in a body, nested blocks
// included.
func traversals(body *hclsyntax.Body) []hcl.Traversal {
	var out []hcl.Traversal
	for _, a := range body.Attributes {
		out = append(out, a.Expr.Variables()...)
	}
	for _, b := range body.Blocks {
		out = append(out, traversals(b.Body)...)
	}
	return out
}

// dynamicIterators names the iterators of the dynamic blocks in a body: a
// `dynamic "x"` block's content refers to x.key and x.value.
func dynamicIterators(body *hclsyntax.Body) map[string]bool {
	out := map[string]bool{}
	for _, b := range body.Blocks {
		if b.Type == "dynamic" && len(b.Labels) == 1 {
			out[b.Labels[0]] = true
			if it := b.Body.Attributes["iterator"]; it != nil {
				out[hcl.ExprAsKeyword(it.Expr)] = true
			}
		}
		for k := range dynamicIterators(b.Body) {
			out[k] = true
		}
	}
	return out
}
