package npy

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNumPyReads checks the files with NumPy itself (build/pyenv), when
// it is there: shape, dtype and values.
func TestNumPyReads(t *testing.T) {
	py, _ := filepath.Abs("../../../build/pyenv/bin/python")
	if _, err := os.Stat(py); err != nil {
		t.Skip("no build/pyenv (make pyenv)")
	}
	dir := t.TempDir()
	write := func(name string, f func(*bytes.Buffer) error) {
		var b bytes.Buffer
		if err := f(&b); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644)
	}
	write("x.npy", func(b *bytes.Buffer) error { return Write(b, []int{2, 3}, []float32{1, 2.5, -3, 4, 5, 6e-7}) })
	write("y.npy", func(b *bytes.Buffer) error { return Write(b, []int{3}, []int32{7, -1, 0}) })
	out, err := exec.Command(py, "-c", `import numpy as np, sys
x = np.load(sys.argv[1] + "/x.npy"); y = np.load(sys.argv[1] + "/y.npy")
print(x.dtype, x.shape, x.tolist(), y.dtype, y.shape, y.tolist())`, dir).CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := "float32 (2, 3) [[1.0, 2.5, -3.0], [4.0, 5.0, 6.000000212225132e-07]] int32 (3,) [7, -1, 0]"
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("numpy read\n%s\nwant\n%s", got, want)
	}
	if err := Write(&bytes.Buffer{}, []int{2, 2}, []float32{1}); err == nil {
		t.Error("a shape that does not fit the data was written")
	}
}
