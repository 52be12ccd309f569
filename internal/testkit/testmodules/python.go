package testmodules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Root is the repository's root: the nearest folder above the test's
// working directory (its package's folder) whose go.mod is graft's.
func Root(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/graft-ml/graft\n") {
			return dir
		}
		up := filepath.Dir(dir)
		if up == dir {
			t.Fatal("testmodules: no graft go.mod above the test's folder")
		}
		dir = up
	}
}

// PythonTF is the Python with TensorFlow that the tensorflow-tagged tests
// use as their oracle: $GRAFT_PYTHON, else the repository's build/pyenv
// (make pyenv), wherever the test's package sits.
func PythonTF(t testing.TB) string {
	t.Helper()
	p := os.Getenv("GRAFT_PYTHON")
	if p == "" {
		p = filepath.Join(Root(t), "build", "pyenv", "bin", "python")
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("no Python with TensorFlow at %s (run make pyenv, or set GRAFT_PYTHON): %v", p, err)
	}
	return p
}
