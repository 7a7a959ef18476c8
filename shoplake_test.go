package shoplake

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

// deployed are the packages Cloud Functions compiles: the root and what it
// registers.
var deployed = []string{".", "./functions/entrypoints", "./functions/ingestbatch", "./functions/loadrawobject", "./functions/pollcarts", "./functions/streamcartevents"}

// localOnly are import paths no deployed function may link: DuckDB (cgo),
// emulators and the local runner's stand-ins.
var localOnly = []string{
	"github.com/duckdb/",
	"github.com/fsouza/fake-gcs-server",
	"cloud.google.com/go/pubsub/v2/pstest",
	"github.com/shoplake/shoplake/shared/warehouse/duckdb",
	"github.com/shoplake/shoplake/functions/local",
}

// forbiddenDeps lists the local-only packages and the non-standard cgo
// packages that pkg depends on.
func forbiddenDeps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}} {{len .CgoFiles}}", pkg).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	var bad []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		path, std, cgo := f[0], f[1] == "true", f[2] != "0"
		for _, p := range localOnly {
			if strings.HasPrefix(path, p) {
				bad = append(bad, path)
			}
		}
		if cgo && !std {
			bad = append(bad, path+" (cgo)")
		}
	}
	return bad
}

func TestDeployedPackagesLinkNothingLocalOnly(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	for _, pkg := range deployed {
		if bad := forbiddenDeps(t, pkg); len(bad) > 0 {
			t.Errorf("%s links local-only code: %v", pkg, bad)
		}
	}
	// The check can fail: the local runner does link DuckDB.
	if bad := forbiddenDeps(t, "./functions/local"); len(bad) == 0 {
		t.Error("the dependency check found nothing in the local runner, which links DuckDB")
	}
}

// TestEntryPointsAreRegisteredAndFailClosed serves the registered entry points
// with functions-framework as the Go runtime does. With no configuration in
// the environment, each answers an error (and logs which variables are
// missing) instead of crashing the instance.
func TestEntryPointsAreRegisteredAndFailClosed(t *testing.T) {
	for _, k := range []string{"RAW_BUCKET", "PROJECT_ID", "GOOGLE_CLOUD_PROJECT", "SOURCE_BASE_URL", "FUNCTION_TARGET", "CART_EVENTS_TOPIC"} {
		t.Setenv(k, "")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	host, port, _ := net.SplitHostPort(addr)
	go funcframework.StartHostPort(host, port)
	waitFor(t, addr)

	for _, name := range []string{"IngestBatch", "PollCarts"} {
		resp, err := http.Post("http://"+addr+"/"+name, "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusInternalServerError {
			t.Errorf("%s without configuration: status %d, want 500", name, resp.StatusCode)
		}
	}
	for name, ceType := range map[string]string{
		"LoadRawObject":    "google.cloud.storage.object.v1.finalized",
		"StreamCartEvents": "google.cloud.pubsub.topic.v1.messagePublished",
	} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/"+name, strings.NewReader(`{}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("ce-specversion", "1.0")
		req.Header.Set("ce-id", "1")
		req.Header.Set("ce-source", "//test")
		req.Header.Set("ce-type", ceType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode < 500 {
			t.Errorf("%s without configuration: status %d, want a 5xx so Eventarc retries", name, resp.StatusCode)
		}
	}
}

func waitFor(t *testing.T, addr string) {
	t.Helper()
	for i := 0; i < 200; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("nothing listens on %s", addr)
}

// TestLocalRunnerUsesTheCloudConstructors proves that `make run` builds every
// function through the constructor the cloud registration uses: package
// entrypoints lists each function with its <function>.Setup, the root
// package and the local runner both build from that list, and neither calls
// another constructor of a function package.
func TestLocalRunnerUsesTheCloudConstructors(t *testing.T) {
	t.Parallel()
	functionPkgs := []string{"ingestbatch", "loadrawobject", "pollcarts", "streamcartevents"}
	list := calls(t, "functions/entrypoints", "")
	builders := map[string]map[string]bool{
		"the cloud registration": calls(t, ".", "shoplake.go"),
		"the local runner":       callsUnder(t, "functions/local"),
	}
	for _, pkg := range functionPkgs {
		if !list[pkg+".Setup"] {
			t.Errorf("package entrypoints does not build %s with %s.Setup", pkg, pkg)
		}
	}
	for who, called := range builders {
		if !called["entrypoints.All"] {
			t.Errorf("%s does not build the functions from entrypoints.All", who)
		}
		for call := range called {
			for _, pkg := range functionPkgs {
				if strings.HasPrefix(call, pkg+".New") || strings.HasPrefix(call, pkg+".LoadConfig") || call == pkg+".Setup" {
					t.Errorf("%s builds %s its own way: calls %s", who, pkg, call)
				}
			}
		}
	}
}

// calls returns the package-qualified calls (pkg.Func) made in the non-test
// Go files of dir (only the named file when file is not empty).
func calls(t *testing.T, dir, file string) map[string]bool {
	t.Helper()
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go") && (file == "" || fi.Name() == file)
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, p := range pkgs {
		for _, f := range p.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				// Setup is passed as a value in the root package, called in
				// the local runner: count both.
				if sel, ok := n.(*ast.SelectorExpr); ok {
					if id, ok := sel.X.(*ast.Ident); ok {
						out[id.Name+"."+sel.Sel.Name] = true
					}
				}
				return true
			})
		}
	}
	if len(out) == 0 {
		t.Fatalf("no Go files read in %s", dir)
	}
	return out
}

// callsUnder is calls of every package in dir and below it: the local
// wing wires the functions in one of its packages (internal/stack), and
// none of them may build a function its own way.
func callsUnder(t *testing.T, dir string) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		files, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if !slices.ContainsFunc(files, func(f string) bool { return !strings.HasSuffix(f, "_test.go") }) {
			return nil // no package here, or tests only: calls reads no test file
		}
		maps.Copy(out, calls(t, path, ""))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNoBuildArtefactIsTracked keeps binaries out of the repository: `go
// build` run in the wrong directory leaves a large executable that is easy to
// commit with `git add -A`.
func TestNoBuildArtefactIsTracked(t *testing.T) {
	out, err := exec.Command("git", "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	const limit = 2 << 20
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		info, err := os.Stat(name)
		if err != nil {
			continue // deleted in the work tree
		}
		head := make([]byte, 4)
		if f, err := os.Open(name); err == nil {
			_, _ = io.ReadFull(f, head)
			f.Close()
		}
		switch {
		case info.Size() > limit:
			t.Errorf("%s is tracked and holds %d bytes (limit %d): build artefacts and data belong outside git", name, info.Size(), limit)
		case string(head) == "\x7fELF":
			t.Errorf("%s is a tracked executable: build with -o bin/… (see the Makefile)", name)
		}
	}
}

// TestMakefileBuildsWithGoModToolchain keeps the Go release make uses (its
// GOTOOLCHAIN) and go.mod's toolchain line one and the same.
func TestMakefileBuildsWithGoModToolchain(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	var toolchain string
	for _, line := range strings.Split(string(mod), "\n") {
		if v, ok := strings.CutPrefix(line, "toolchain "); ok {
			toolchain = strings.TrimSpace(v)
		}
	}
	if toolchain == "" || !strings.Contains(string(mk), "GOTOOLCHAIN ?= "+toolchain+"+auto\n") {
		t.Errorf("go.mod's toolchain is %q; the Makefile must set GOTOOLCHAIN ?= %s+auto", toolchain, toolchain)
	}
}

// TestRequirementsLockPinsEveryRequirement keeps requirements.lock (the
// constraints of the virtualenv's install) in step with requirements.txt.
func TestRequirementsLockPinsEveryRequirement(t *testing.T) {
	pins := func(name string) map[string]string {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(strings.SplitN(line, "#", 2)[0])
			if pkg, version, ok := strings.Cut(line, "=="); ok {
				out[strings.ToLower(strings.ReplaceAll(pkg, "_", "-"))] = version
			}
		}
		return out
	}
	lock := pins("requirements.lock")
	for pkg, version := range pins("requirements.txt") {
		if lock[pkg] != version {
			t.Errorf("requirements.txt pins %s==%s, requirements.lock %q: regenerate the lock (see its header)", pkg, version, lock[pkg])
		}
	}
}

// TestShortSkippedTestsRunInFull: make test runs every package with -short
// under the race detector, then in full only the packages its unit target
// names. A test that -short skips in any other package would never run.
func TestShortSkippedTestsRunInFull(t *testing.T) {
	mk, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	full := map[string]bool{}
	for _, line := range strings.Split(string(mk), "\n") {
		if strings.Contains(line, "$(GO) test ") && !strings.Contains(line, "-short") {
			for _, f := range strings.Fields(line) {
				if f == "." || strings.HasPrefix(f, "./") {
					full[f] = true
				}
			}
		}
	}
	if len(full) == 0 {
		t.Fatal("found no full (non -short) go test line in the Makefile")
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "dbt" || d.Name() == "dist") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pkg := "./" + filepath.Dir(path)
		if filepath.Dir(path) == "." {
			pkg = "."
		}
		if strings.Contains(string(b), "testing.Short()") && !full[pkg] {
			t.Errorf("%s skips tests under -short, but the Makefile's full go test run does not name %s", path, pkg)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
