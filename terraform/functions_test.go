package terraform

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shoplake/shoplake/functions/ingestbatch"
	"github.com/shoplake/shoplake/functions/loadrawobject"
	"github.com/shoplake/shoplake/functions/pollcarts"
	"github.com/shoplake/shoplake/functions/streamcartevents"
	"github.com/shoplake/shoplake/shared/config"
)

// loaders are the Go configuration readers, by entry point.
var loaders = map[string]func(config.Lookup) error{
	ingestbatch.FunctionName:      func(l config.Lookup) error { _, err := ingestbatch.LoadConfig(l); return err },
	loadrawobject.FunctionName:    func(l config.Lookup) error { _, err := loadrawobject.LoadConfig(l); return err },
	pollcarts.FunctionName:        func(l config.Lookup) error { _, err := pollcarts.LoadConfig(l); return err },
	streamcartevents.FunctionName: func(l config.Lookup) error { _, err := streamcartevents.LoadConfig(l); return err },
}

var requiredVar = regexp.MustCompile(`([A-Z][A-Z0-9_]+): is required`)

// goVariables returns the variables a function's Go configuration reads, and
// those it refuses to start without.
func goVariables(load func(config.Lookup) error) (read, required map[string]bool) {
	read, required = map[string]bool{}, map[string]bool{}
	err := load(func(name string) (string, bool) {
		read[name] = true
		return "", false
	})
	if err != nil {
		for _, m := range requiredVar.FindAllStringSubmatch(err.Error(), -1) {
			required[m[1]] = true
		}
	}
	return read, required
}

// deploymentProblems compares the functions Terraform deploys with the Go
// code: every entry point is a Go function, deployed once; every variable the
// Go configuration requires is always set; every variable set is one the Go
// configuration reads (a misspelt name would silently fall back to a default).
func deploymentProblems(c *tfConfig) ([]string, error) {
	fns, err := c.functions()
	if err != nil {
		return nil, err
	}
	var out []string
	deployed := map[string]int{}
	for _, f := range fns {
		deployed[f.entryPoint]++
		load, ok := loaders[f.entryPoint]
		if !ok {
			out = append(out, fmt.Sprintf("%s: entry point %q is not a Shoplake function", f.resource, f.entryPoint))
			continue
		}
		read, required := goVariables(load)
		for _, v := range sorted(required) {
			if !f.always[v] {
				out = append(out, fmt.Sprintf("%s: %s is required by %s but not always set", f.resource, v, f.entryPoint))
			}
		}
		for _, v := range sorted(f.maybe) {
			if !read[v] {
				out = append(out, fmt.Sprintf("%s: %s is set but %s never reads it", f.resource, v, f.entryPoint))
			}
		}
	}
	for name := range loaders {
		if deployed[name] != 1 {
			out = append(out, fmt.Sprintf("entry point %s is deployed %d times, want once", name, deployed[name]))
		}
	}
	sort.Strings(out)
	return out, nil
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// TestGoVariablesAreRead: the deployment check has teeth, each function
// requires something.
func TestGoVariablesAreRead(t *testing.T) {
	for name, load := range loaders {
		if _, required := goVariables(load); !required["RAW_BUCKET"] {
			t.Errorf("%s: RAW_BUCKET not detected as required; the check reads nothing", name)
		}
	}
}

// TestArchiveBuildsLikeTheGoBuildpack packages the functions as Cloud Build
// does, unpacks the archive Terraform uploads, and builds it the way the Go
// buildpack does: a generated main package that imports the function source
// and starts functions-framework, run with FUNCTION_TARGET set to each entry
// point Terraform deploys. Each must serve its own handler; an entry point
// that is not registered must fail at start-up.
func TestArchiveBuildsLikeTheGoBuildpack(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the deployed binary")
	}
	c, err := parse(loadDir(t, "."))
	if err != nil {
		t.Fatal(err)
	}
	archive := uploadedArchive(t, c)

	dir := t.TempDir()
	zipPath := filepath.Join(dir, filepath.Base(archive))
	run(t, "..", nil, "go", "run", "./scripts/package-functions", "-o", zipPath)
	src := filepath.Join(dir, "app", "serverless_function_source_code")
	unzip(t, zipPath, src)
	if _, err := os.Stat(filepath.Join(src, "shoplake.go")); err != nil {
		t.Fatalf("the function package is not at the archive root: %v", err)
	}

	app := filepath.Join(dir, "app")
	module := modulePath(t, filepath.Join(src, "go.mod"))
	write(t, filepath.Join(app, "go.mod"), fmt.Sprintf("module functions.local/app\n\ngo 1.26.0\n\nrequire %s v0.0.0\n\nreplace %s => ./serverless_function_source_code\n\n%s", module, module, requireBlocks(t, filepath.Join(src, "go.mod"))))
	write(t, filepath.Join(app, "main.go"), fmt.Sprintf(buildpackMain, module))
	sum, err := os.ReadFile(filepath.Join(src, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(app, "go.sum"), string(sum))
	// Offline: the buildpack resolves the generated module with the network
	// (go mod tidy); here the source's own requirements stand in for that
	// resolution, so the build needs only the modules the functions compile
	// with, which building the project put in the module cache. (go mod tidy
	// offline would also need the test dependencies of every dependency,
	// which only a long-used module cache holds.)
	offline := []string{"GOFLAGS=-mod=mod", "GOPROXY=off", "GOWORK=off", "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64"}
	bin := filepath.Join(dir, "function")
	run(t, app, offline, "go", "build", "-o", bin, ".")

	fns, err := c.functions()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fns {
		t.Run(f.entryPoint, func(t *testing.T) {
			code, body := serveOnce(t, bin, f.entryPoint)
			// With no configuration the function's own handler reports it.
			if code != http.StatusInternalServerError || !strings.Contains(body, "misconfigured") {
				t.Errorf("FUNCTION_TARGET=%s answered %d %q, want the function's configuration error", f.entryPoint, code, body)
			}
		})
	}
	t.Run("unregistered target fails", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "FUNCTION_TARGET=NoSuchFunction", "PORT="+freePort(t))
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("started with an unregistered target: %s", out)
		}
	})
}

// buildpackMain is the main package the Go buildpack generates for a
// function source (functions-framework-go, declarative registration).
const buildpackMain = `package main

import (
	"log"
	"os"

	_ "%s"

	"github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
)

func main() {
	port := "8080"
	if p := os.Getenv("PORT"); p != "" {
		port = p
	}
	if err := funcframework.Start(port); err != nil {
		log.Fatalf("funcframework.Start: %%v", err)
	}
}
`

// uploadedArchive returns the path (relative to this folder) of the archive
// the function source object uploads, from the variable's default.
func uploadedArchive(t *testing.T, c *tfConfig) string {
	t.Helper()
	objects := c.ofType("google_storage_bucket_object")
	if len(objects) != 1 {
		t.Fatalf("%d bucket objects, want the one function source", len(objects))
	}
	a := attr(objects[0].Block, "source")
	if a == nil || c.text(objects[0].file, a.Expr) != "var.function_source_archive" {
		t.Fatalf("the function source object does not upload var.function_source_archive")
	}
	for _, b := range c.blocks {
		if b.Type == "variable" && b.Labels[0] == "function_source_archive" {
			v, ok := literal(b.Body.Attributes["default"].Expr)
			if !ok {
				t.Fatal("function_source_archive has no constant default")
			}
			if v.AsString() != "../dist/functions-source.zip" {
				t.Fatalf("function_source_archive defaults to %s, not where scripts/package-functions writes", v.AsString())
			}
			return v.AsString()
		}
	}
	t.Fatal("no variable function_source_archive")
	return ""
}

func run(t *testing.T, dir string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func unzip(t *testing.T, path, dir string) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.Contains(f.Name, "..") || filepath.IsAbs(f.Name) {
			t.Fatalf("archive entry %q escapes the source root", f.Name)
		}
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, f.Name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		write(t, p, string(b))
	}
}

func modulePath(t *testing.T, goMod string) string {
	t.Helper()
	b, err := os.ReadFile(goMod)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if m, ok := strings.CutPrefix(line, "module "); ok {
			return strings.TrimSpace(m)
		}
	}
	t.Fatal("go.mod names no module")
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return fmt.Sprint(l.Addr().(*net.TCPAddr).Port)
}

// serveOnce starts the binary for one target, POSTs to it once it listens,
// and stops it. A port taken between finding it free and the binary binding
// it makes the binary exit: it is started again on another.
func serveOnce(t *testing.T, bin, target string) (int, string) {
	t.Helper()
	var logs bytes.Buffer
	for attempt := 0; attempt < 3; attempt++ {
		logs.Reset()
		code, body, exited := tryServe(t, bin, target, &logs)
		if !exited {
			return code, body
		}
	}
	t.Fatalf("%s never listened: %s", target, logs.String())
	return 0, ""
}

// tryServe runs the binary on a free port until it answers one POST; exited
// reports that it stopped before listening.
func tryServe(t *testing.T, bin, target string, logs *bytes.Buffer) (code int, body string, exited bool) {
	t.Helper()
	port := freePort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	// No platform configuration: the handler must report it, not crash.
	cmd.Env = []string{"FUNCTION_TARGET=" + target, "PORT=" + port, "HOME=" + t.TempDir()}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	defer func() { _ = cmd.Process.Kill(); <-done }()
	for ctx.Err() == nil {
		select {
		case <-done:
			return 0, "", true
		default:
		}
		resp, err := http.Post("http://127.0.0.1:"+port+"/", "application/json", strings.NewReader(`{}`))
		if err != nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(b), false
	}
	return 0, "", true
}

// requireBlocks returns the require directives of the go.mod at path.
func requireBlocks(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	inBlock := false
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "require ("):
			inBlock = true
		case inBlock && strings.TrimSpace(line) == ")":
			inBlock = false
			out.WriteString(line + "\n")
			continue
		}
		if inBlock || strings.HasPrefix(line, "require ") {
			out.WriteString(line + "\n")
		}
	}
	if out.Len() == 0 {
		t.Fatalf("%s has no require directive", path)
	}
	return out.String()
}
