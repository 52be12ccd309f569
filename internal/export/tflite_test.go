package export

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// tfliteFile reports whether path holds a TFLite flatbuffer (the schema's
// file identifier at bytes 4..8).
func tfliteFile(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile(path)
	return err == nil && len(b) > 8 && string(b[4:8]) == "TFL3"
}

// TestTFLiteRefuses: each bad input gets its error and advice, and the
// folder holds afterwards what it held before (no temporary file, no
// partial model).
func TestTFLiteRefuses(t *testing.T) {
	run, _ := trainedRun(t)
	cases := []struct {
		name   string
		setup  func(t *testing.T, out string) string // returns the run to export
		o      Options
		is     error
		text   string
		advice string
	}{
		{"output exists", func(t *testing.T, out string) string {
			os.WriteFile(out, []byte("old"), 0o644)
			return run
		}, Options{Format: FormatTFLite}, os.ErrExist, "model.tflite", "--force"},
		{"output is a folder", func(t *testing.T, out string) string {
			os.Mkdir(out, 0o755)
			return run
		}, Options{Format: FormatTFLite, Force: true}, os.ErrExist, "model.tflite", "not a folder"},
		{"unfinished run", func(t *testing.T, out string) string {
			c := filepath.Join(t.TempDir(), "run")
			testmodules.CopyTree(t, run, c)
			os.Remove(filepath.Join(c, rundir.SummaryFile))
			return c
		}, Options{Format: FormatTFLite}, ErrRun, "has not finished", "graft train --resume"},
		{"full disk", func(t *testing.T, out string) string {
			old := writeModel
			t.Cleanup(func() { writeModel = old })
			writeModel = func(w io.Writer, b []byte) error {
				w.Write(b[:len(b)/2])
				return &os.PathError{Op: "write", Path: out, Err: syscall.ENOSPC}
			}
			return run
		}, Options{Format: FormatTFLite}, syscall.ENOSPC, "nothing was written", "free space"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "model.tflite")
			r := c.setup(t, out)
			before, _ := os.ReadDir(parent)
			err := Write(r, out, c.o)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) || !strings.Contains(strings.Join(hint.All(err), "\n"), c.advice) {
				t.Fatalf("error %v (hints %v), want %v with %q and advice %q", err, hint.All(err), c.is, c.text, c.advice)
			}
			after, _ := os.ReadDir(parent)
			if len(after) != len(before) || tfliteFile(t, out) {
				t.Errorf("left behind: %v (before: %v)", after, before)
			}
		})
	}
}

// TestTFLiteForce: --force replaces an existing file with the model.
func TestTFLiteForce(t *testing.T) {
	run, _ := trainedRun(t)
	out := filepath.Join(t.TempDir(), "model.tflite")
	os.WriteFile(out, []byte("old"), 0o644)
	if err := Write(run, out, Options{Format: FormatTFLite, Force: true}); err != nil {
		t.Fatal(err)
	}
	if !tfliteFile(t, out) {
		t.Fatal("--force did not write the model")
	}
	a, _ := os.ReadFile(out)
	if err := Write(run, out, Options{Format: FormatTFLite, Force: true, Quantize: QuantizeFloat16}); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(out)
	// The float16 file stores the weights in half the bytes.
	if !tfliteFile(t, out) || len(b) >= len(a) || bytes.Equal(a, b) {
		t.Errorf("float16 file %d bytes, float32 %d", len(b), len(a))
	}
}
