package savedmodel

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const tfModule = "github.com/tensorflow/tensorflow@v2.15.0+incompatible"

// tfModuleDir locates the TensorFlow Go module (its testdata holds real
// TensorFlow-written SavedModels) in the module cache, or skips.
func tfModuleDir(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(tfModule))
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("TensorFlow test models missing (%v): run `go mod download %s`", err, tfModule)
	}
	return dir
}

func tfModel(t testing.TB, rel string) string {
	return filepath.Join(tfModuleDir(t), "tensorflow", filepath.FromSlash(rel))
}
