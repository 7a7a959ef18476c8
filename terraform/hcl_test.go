// Package terraform holds the tests of the Terraform configuration in this
// folder. No Google provider plugin can be downloaded here, so `terraform
// validate` cannot run offline: these tests parse the files with
// hashicorp/hcl/v2 and check what the provider would not anyway: the
// security policies, and that the functions Terraform deploys match the Go
// code (entry points, environment).
package terraform

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// tfConfig is the parsed Terraform of one folder.
type tfConfig struct {
	src       map[string][]byte // file name → content
	resources []*block
	blocks    []*block // every top-level block
	locals    map[string]hclsyntax.Expression
}

// block is a top-level block with the file it came from.
type block struct {
	file string
	*hclsyntax.Block
}

// name is "<type>.<name>" for resources, the block type otherwise.
func (b *block) name() string {
	if b.Type == "resource" && len(b.Labels) == 2 {
		return b.Labels[0] + "." + b.Labels[1]
	}
	return strings.Join(append([]string{b.Type}, b.Labels...), ".")
}

// parse parses files (name → content) as one Terraform configuration.
func parse(files map[string][]byte) (*tfConfig, error) {
	c := &tfConfig{src: files, locals: map[string]hclsyntax.Expression{}}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f, diags := hclsyntax.ParseConfig(files[n], n, hcl.InitialPos)
		if diags.HasErrors() {
			return nil, fmt.Errorf("parse %s: %s", n, diags.Error())
		}
		for _, b := range f.Body.(*hclsyntax.Body).Blocks {
			bl := &block{file: n, Block: b}
			c.blocks = append(c.blocks, bl)
			switch b.Type {
			case "resource":
				c.resources = append(c.resources, bl)
			case "locals":
				for name, a := range b.Body.Attributes {
					c.locals[name] = a.Expr
				}
			}
		}
	}
	return c, nil
}

// loadDir reads every .tf file of dir.
func loadDir(t testing.TB, dir string) map[string][]byte {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no Terraform files in %s: %v", dir, err)
	}
	files := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		files[filepath.Base(p)] = b
	}
	return files
}

// ofType returns the resources of a type.
func (c *tfConfig) ofType(typ string) []*block {
	var out []*block
	for _, r := range c.resources {
		if r.Labels[0] == typ {
			out = append(out, r)
		}
	}
	return out
}

// text is the source text of an expression.
func (c *tfConfig) text(file string, e hclsyntax.Expression) string {
	return string(e.Range().SliceBytes(c.src[file]))
}

// source is the source text of a whole block.
func (c *tfConfig) source(b *block) string {
	return string(b.Range().SliceBytes(c.src[b.file]))
}

// attr returns the attribute at a path of nested blocks ("service_config",
// "ingress_settings"), or nil.
func attr(b *hclsyntax.Block, path ...string) *hclsyntax.Attribute {
	body := b.Body
	for _, p := range path[:len(path)-1] {
		var next *hclsyntax.Body
		for _, nb := range body.Blocks {
			if nb.Type == p {
				next = nb.Body
				break
			}
		}
		if next == nil {
			return nil
		}
		body = next
	}
	return body.Attributes[path[len(path)-1]]
}

// nested returns the blocks of a type directly inside b, and the content of
// each `dynamic "<typ>"` block there.
func nested(b *hclsyntax.Block, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, nb := range b.Body.Blocks {
		switch {
		case nb.Type == typ:
			out = append(out, nb)
		case nb.Type == "dynamic" && len(nb.Labels) == 1 && nb.Labels[0] == typ:
			for _, content := range nb.Body.Blocks {
				if content.Type == "content" {
					out = append(out, content)
				}
			}
		}
	}
	return out
}

// literal evaluates an expression without variables: a constant string, bool
// or number, or ok=false when it refers to anything.
func literal(e hclsyntax.Expression) (cty.Value, bool) {
	if len(e.Variables()) > 0 {
		return cty.NilVal, false
	}
	v, diags := e.Value(nil)
	if diags.HasErrors() || !v.IsWhollyKnown() {
		return cty.NilVal, false
	}
	return v, true
}

// stringAttr is the constant string value of an attribute, or "".
func stringAttr(b *hclsyntax.Block, path ...string) string {
	a := attr(b, path...)
	if a == nil {
		return ""
	}
	v, ok := literal(a.Expr)
	if !ok || v.Type() != cty.String {
		return ""
	}
	return v.AsString()
}

// envVars is what an environment expression sets: the names always set (in
// every branch of a condition), those that may be, and, of the names set
// outside any condition, the ones whose value is a constant string.
type envVars struct {
	always, maybe map[string]bool
	literals      map[string]string
}

// envKeys reads an environment expression: an object, merge() of such, a
// condition between two, or a local holding one.
func (c *tfConfig) envKeys(e hclsyntax.Expression) (envVars, error) {
	out := envVars{always: map[string]bool{}, maybe: map[string]bool{}, literals: map[string]string{}}
	switch e := e.(type) {
	case *hclsyntax.ObjectConsExpr:
		for _, item := range e.Items {
			k, ok := literal(item.KeyExpr)
			if !ok || k.Type() != cty.String {
				return envVars{}, fmt.Errorf("environment key %s is not a constant", item.KeyExpr.Range())
			}
			out.always[k.AsString()], out.maybe[k.AsString()] = true, true
			if v, ok := literal(item.ValueExpr); ok && v.Type() == cty.String {
				out.literals[k.AsString()] = v.AsString()
			}
		}
	case *hclsyntax.FunctionCallExpr:
		if e.Name != "merge" {
			return envVars{}, fmt.Errorf("environment built with %s(), want merge()", e.Name)
		}
		for _, arg := range e.Args {
			a, err := c.envKeys(arg)
			if err != nil {
				return envVars{}, err
			}
			for k := range a.always {
				out.always[k] = true
			}
			for k := range a.maybe {
				out.maybe[k] = true
			}
			for k, v := range a.literals {
				out.literals[k] = v
			}
		}
	case *hclsyntax.ConditionalExpr:
		t, err := c.envKeys(e.TrueResult)
		if err != nil {
			return envVars{}, err
		}
		f, err := c.envKeys(e.FalseResult)
		if err != nil {
			return envVars{}, err
		}
		for k := range t.always {
			if f.always[k] {
				out.always[k] = true
			}
		}
		for k := range t.maybe {
			out.maybe[k] = true
		}
		for k := range f.maybe {
			out.maybe[k] = true
		}
	case *hclsyntax.ScopeTraversalExpr:
		if len(e.Traversal) != 2 || e.Traversal.RootName() != "local" {
			return envVars{}, fmt.Errorf("environment from %s: want a local value", e.Range())
		}
		name := e.Traversal[1].(hcl.TraverseAttr).Name
		local, ok := c.locals[name]
		if !ok {
			return envVars{}, fmt.Errorf("no local %s", name)
		}
		return c.envKeys(local)
	default:
		return envVars{}, fmt.Errorf("environment expression %T at %s not understood", e, e.Range())
	}
	return out, nil
}

// function is what the tests need of a google_cloudfunctions2_function.
type function struct {
	resource   string
	entryPoint string
	always     map[string]bool
	maybe      map[string]bool
	// literals are the variables always set to a constant, with their values.
	literals map[string]string
	// timeoutSeconds is service_config's timeout_seconds, 0 when not a constant.
	timeoutSeconds int64
}

// functions returns the Cloud Functions of the configuration. A resource
// with for_each over a local map of objects is one function per entry: its
// entry_point and env come from the entry when the resource reads
// each.value.entry_point and each.value.env.
func (c *tfConfig) functions() ([]function, error) {
	var out []function
	for _, r := range c.ofType("google_cloudfunctions2_function") {
		entries, err := c.forEachEntries(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.name(), err)
		}
		env := attr(r.Block, "service_config", "environment_variables")
		if env == nil {
			return nil, fmt.Errorf("%s sets no environment", r.name())
		}
		entryPoint := attr(r.Block, "build_config", "entry_point")
		timeout := attr(r.Block, "service_config", "timeout_seconds")
		for _, e := range entries {
			f := function{resource: r.name() + e.index, entryPoint: stringAttr(r.Block, "build_config", "entry_point")}
			envExpr := env.Expr
			if timeout != nil {
				tExpr := timeout.Expr
				if e.fields != nil && isEachValue(tExpr, "timeout") {
					tExpr = e.fields["timeout"]
				}
				if v, ok := literal(tExpr); ok && v.Type() == cty.Number {
					f.timeoutSeconds, _ = v.AsBigFloat().Int64()
				}
			}
			if e.fields != nil {
				if entryPoint != nil && isEachValue(entryPoint.Expr, "entry_point") {
					if v, ok := literal(e.fields["entry_point"]); ok && v.Type() == cty.String {
						f.entryPoint = v.AsString()
					}
				}
				if isEachValue(env.Expr, "env") {
					if envExpr = e.fields["env"]; envExpr == nil {
						return nil, fmt.Errorf("%s sets no env", f.resource)
					}
				}
			}
			vars, err := c.envKeys(envExpr)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.resource, err)
			}
			f.always, f.maybe, f.literals = vars.always, vars.maybe, vars.literals
			out = append(out, f)
		}
	}
	return out, nil
}

// entry is one instance of a resource: index is "" or `["key"]`, fields the
// attributes of its for_each object (nil without for_each).
type entry struct {
	index  string
	fields map[string]hclsyntax.Expression
}

// forEachEntries expands a resource's for_each over a local map of objects.
func (c *tfConfig) forEachEntries(r *block) ([]entry, error) {
	fe := r.Body.Attributes["for_each"]
	if fe == nil {
		return []entry{{}}, nil
	}
	tr, ok := fe.Expr.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(tr.Traversal) != 2 || tr.Traversal.RootName() != "local" {
		return nil, fmt.Errorf("for_each at %s: want a local map", fe.Expr.Range())
	}
	m, ok := c.locals[tr.Traversal[1].(hcl.TraverseAttr).Name].(*hclsyntax.ObjectConsExpr)
	if !ok {
		return nil, fmt.Errorf("for_each at %s: want a local map of objects", fe.Expr.Range())
	}
	var out []entry
	for _, item := range m.Items {
		key := hcl.ExprAsKeyword(item.KeyExpr)
		if key == "" {
			k, ok := literal(item.KeyExpr)
			if !ok || k.Type() != cty.String {
				return nil, fmt.Errorf("key at %s is not a constant", item.KeyExpr.Range())
			}
			key = k.AsString()
		}
		obj, ok := item.ValueExpr.(*hclsyntax.ObjectConsExpr)
		if !ok {
			return nil, fmt.Errorf("%s at %s is not an object", key, item.ValueExpr.Range())
		}
		e := entry{index: fmt.Sprintf("[%q]", key), fields: map[string]hclsyntax.Expression{}}
		for _, f := range obj.Items {
			e.fields[hcl.ExprAsKeyword(f.KeyExpr)] = f.ValueExpr
		}
		out = append(out, e)
	}
	return out, nil
}

// isEachValue reports whether e is each.value.<field>.
func isEachValue(e hclsyntax.Expression, field string) bool {
	tr, ok := e.(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(tr.Traversal) != 3 || tr.Traversal.RootName() != "each" {
		return false
	}
	v, ok1 := tr.Traversal[1].(hcl.TraverseAttr)
	f, ok2 := tr.Traversal[2].(hcl.TraverseAttr)
	return ok1 && ok2 && v.Name == "value" && f.Name == field
}

// roles returns the roles an IAM member resource grants: its constant role,
// or each.key over a constant toset([...]) of roles.
func (c *tfConfig) roles(r *block) []string {
	if role := stringAttr(r.Block, "role"); role != "" {
		return []string{role}
	}
	a, fe := attr(r.Block, "role"), attr(r.Block, "for_each")
	if a == nil || fe == nil || c.text(r.file, a.Expr) != "each.key" {
		return nil
	}
	call, ok := fe.Expr.(*hclsyntax.FunctionCallExpr)
	if !ok || call.Name != "toset" || len(call.Args) != 1 {
		return nil
	}
	v, ok := literal(call.Args[0])
	if !ok || !v.CanIterateElements() {
		return nil
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		if _, e := it.Element(); e.Type() == cty.String {
			out = append(out, e.AsString())
		}
	}
	return out
}

// breakage is one edit of the configuration and what a check must report.
type breakage struct {
	name, file, old, new, want string
}

// edited parses this folder's configuration with one edit: the first old in
// file replaced by new. It fails the test when old is no longer there.
func edited(t *testing.T, file, old, new string) *tfConfig {
	t.Helper()
	files := loadDir(t, ".")
	if !strings.Contains(string(files[file]), old) {
		t.Fatalf("%s no longer contains %q: update the test", file, old)
	}
	files[file] = []byte(strings.Replace(string(files[file]), old, new, 1))
	c, err := parse(files)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// reported fails the test unless one of problems contains want.
func reported(t *testing.T, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("not reported: want %q in %q", want, problems)
}
