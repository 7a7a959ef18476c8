package main

import (
	"go/build"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// layers ranks the local wing's packages, from the bottom: a package may
// import only packages of a lower rank, so nothing below calls back into
// what uses it. main.go's package doc draws the same graph.
var layers = map[string]int{
	"internal/names": 0, "internal/progress": 0, "internal/rundir": 0,
	"report": 0, "storefront": 0,
	"internal/queue": 1, "shopifyapi": 1, "wooapi": 1,
	"internal/dbtrun": 2, "internal/emulation": 2,
	"internal/audit":   3,
	"internal/summary": 4,
	"internal/stack":   5,
	"internal/runner":  6,
	".":                7, // main
}

// TestPackagesImportOnlyDownward reads the imports of every package of the
// local wing (tests aside) and checks each against layers; a package that
// layers does not rank fails, so that a new one is placed deliberately.
func TestPackagesImportOnlyDownward(t *testing.T) {
	const prefix = "github.com/shoplake/shoplake/functions/local/"
	seen := 0
	err := filepath.WalkDir(".", func(dir string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if d.Name() == "testdata" {
			return filepath.SkipDir
		}
		pkg, err := build.ImportDir(dir, 0)
		if _, ok := err.(*build.NoGoError); ok {
			return nil
		} else if err != nil {
			return err
		}
		rank, ok := layers[filepath.ToSlash(dir)]
		if !ok {
			t.Errorf("package %s has no rank in layers", dir)
			return nil
		}
		seen++
		for _, imp := range pkg.Imports {
			rel, ok := strings.CutPrefix(imp, prefix)
			if !ok {
				continue
			}
			if r, known := layers[rel]; !known || r >= rank {
				t.Errorf("%s (rank %d) imports %s (rank %d, known %v): imports must flow downward", dir, rank, rel, r, known)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != len(layers) {
		t.Errorf("found %d packages, layers ranks %d: a ranked package is gone", seen, len(layers))
	}
}
