// Command package-functions writes the source archive Terraform uploads for
// the four Cloud Functions.
//
// One archive serves all four: the Go runtime builds the package at the root
// of the archive (shoplake.go, which registers every entry point) and each
// function picks its own with FUNCTION_TARGET. The archive holds go.mod,
// go.sum and exactly the files of this module's packages that the root
// package imports (Go sources and embedded files, no tests, no local runner,
// no DuckDB), with fixed timestamps so that an unchanged source gives a
// byte-identical archive and Terraform redeploys nothing.
//
//	go run ./scripts/package-functions [-o dist/functions-source.zip]
package main

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "dist/functions-source.zip", "archive to write")
	flag.Parse()
	files, err := Files(".")
	if err == nil {
		err = Write(*out, ".", files)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "package-functions:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%d files)\n", *out, len(files))
}

// goPackage is the part of `go list -json` output the archive needs.
type goPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	Module     *struct{ Path, Dir string }
	GoFiles    []string
	CgoFiles   []string
	EmbedFiles []string
}

// Files lists, relative to the module root, the files the deployed build
// needs: go.mod, go.sum and the sources and embedded files of every package
// of the module that the root package depends on, as built for linux/amd64.
func Files(root string) ([]string, error) {
	cmd := exec.Command("go", "list", "-deps", "-json", ".")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "GOFLAGS=-buildvcs=false")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	modRoot, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	files := []string{"go.mod", "go.sum"}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p goPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("decode go list output: %w", err)
		}
		if p.Standard || p.Module == nil || p.Module.Dir == "" {
			continue
		}
		if filepath.Clean(p.Module.Dir) != modRoot {
			continue // a dependency: the builder downloads it
		}
		rel, err := filepath.Rel(modRoot, p.Dir)
		if err != nil {
			return nil, err
		}
		for _, f := range slices.Concat(p.GoFiles, p.CgoFiles, p.EmbedFiles) {
			files = append(files, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	sort.Strings(files)
	return files, nil
}

// epoch is every entry's timestamp, so the archive depends only on content.
var epoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes files (relative to root) into a zip at path.
func Write(path, root string, files []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range files {
		if strings.Contains(name, "..") {
			return fmt.Errorf("file %s is outside the module", name)
		}
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			return fmt.Errorf("read %s: %w", name, err)
		}
		h := &zip.FileHeader{Name: name, Method: zip.Deflate, Modified: epoch}
		h.SetMode(0o644)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("add %s: %w", name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("finish %s: %w", path, err)
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}
