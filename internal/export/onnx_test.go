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

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// TestExportONNXCoversNativeOps: every op the native engine runs has an
// ONNX mapping, or is one the export folds into constants.
func TestExportONNXCoversNativeOps(t *testing.T) {
	for _, op := range native.SupportedOps() {
		if _, ok := onnxOps[op]; !ok && !strings.Contains(strings.Join(onnxFoldedOnly, " ")+" ", op+" ") {
			t.Errorf("native op %s has no ONNX mapping", op)
		}
	}
}

type fullDisk struct{ n int }

func (f *fullDisk) Write(p []byte) (int, error) {
	return 0, &os.PathError{Op: "write", Path: "model.onnx", Err: syscall.ENOSPC}
}

// TestExportONNXRefuses: each bad input gets its error and advice, and
// nothing (no file, no temporary) is left behind or replaced.
func TestExportONNXRefuses(t *testing.T) {
	run, _ := trainedRun(t)
	cases := []struct {
		name   string
		setup  func(t *testing.T, run, out string) (string, Options) // the run to export
		is     error
		text   string
		advice string
	}{
		{"output exists", func(t *testing.T, run, out string) (string, Options) {
			os.WriteFile(out, []byte("old"), 0o644)
			return run, Options{Format: FormatONNX}
		}, os.ErrExist, "export", "--force"},
		{"output is a folder", func(t *testing.T, run, out string) (string, Options) {
			os.Mkdir(out, 0o755)
			return run, Options{Format: FormatONNX, Force: true}
		}, os.ErrExist, "export", "--force"},
		{"unknown format", func(t *testing.T, run, out string) (string, Options) {
			return run, Options{Format: "pt"}
		}, nil, `format "pt"`, "--format onnx"},
		{"unfinished run", func(t *testing.T, run, out string) (string, Options) {
			c := filepath.Join(t.TempDir(), "run")
			testmodules.CopyTree(t, run, c)
			os.Remove(filepath.Join(c, rundir.SummaryFile))
			return c, Options{Format: FormatONNX}
		}, ErrRun, "has not finished", "graft train --resume"},
		{"op without a mapping", func(t *testing.T, run, out string) (string, Options) {
			// The fixture's conv2d_2 is Conv2D, BiasAdd, Relu: take
			// BiasAdd's mapping away, as for an op the table lacks.
			old := onnxOps["BiasAdd"]
			delete(onnxOps, "BiasAdd")
			t.Cleanup(func() { onnxOps["BiasAdd"] = old })
			return run, Options{Format: FormatONNX}
		}, ErrONNXOp, `op BiasAdd (node "`, "--format savedmodel"},
		{"full disk", func(t *testing.T, run, out string) (string, Options) {
			old := onnxWriter
			onnxWriter = func(io.Writer) io.Writer { return &fullDisk{} }
			t.Cleanup(func() { onnxWriter = old })
			return run, Options{Format: FormatONNX}
		}, syscall.ENOSPC, "no space left", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "model.onnx")
			r, o := c.setup(t, run, out)
			before := listing(parent)
			err := Write(r, out, o)
			if err == nil || (c.is != nil && !errors.Is(err, c.is)) || !strings.Contains(err.Error(), c.text) || !strings.Contains(strings.Join(hint.All(err), "\n")+err.Error(), c.advice) {
				t.Fatalf("error %v (hints %v), want %v with %q and advice %q", err, hint.All(err), c.is, c.text, c.advice)
			}
			if after := listing(parent); after != before {
				t.Errorf("folder was %q, now %q", before, after)
			}
			if b, _ := os.ReadFile(out); len(b) > 0 && !bytes.Equal(b, []byte("old")) {
				t.Errorf("%s was written", out)
			}
		})
	}
	t.Run("force replaces", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "model.onnx")
		os.WriteFile(out, []byte("old"), 0o644)
		if err := Write(run, out, Options{Format: FormatONNX, Force: true}); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(out); len(b) < 1000 {
			t.Errorf("%s has %d bytes after --force", out, len(b))
		}
	})
}

func listing(dir string) string {
	es, _ := os.ReadDir(dir)
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return strings.Join(names, ",")
}

// TestONNXPads: TF's SAME padding as explicit ONNX pads, hand-computed
// (out = ceil(in/stride), the odd pixel at the end).
func TestONNXPads(t *testing.T) {
	same := &ndpb.NodeDef{Name: "c", Attr: map[string]*avpb.AttrValue{"padding": savedmodel.AttrString("SAME")}}
	for _, c := range []struct {
		h, k, s, d int64
		want       [2]int64
	}{
		{5, 3, 2, 1, [2]int64{1, 1}}, // out 3: (3-1)*2+3-5 = 2
		{4, 3, 2, 1, [2]int64{0, 1}}, // out 2: 2+3-4 = 1, after
		{7, 1, 2, 1, [2]int64{0, 0}},
		{5, 3, 1, 2, [2]int64{2, 2}}, // dilated window 5
		{8, 2, 1, 1, [2]int64{0, 1}},
	} {
		p, err := pads(same, c.h, 9, c.k, 1, c.s, 1, c.d, 1)
		if err != nil || p[0] != c.want[0] || p[2] != c.want[1] || p[1] != 0 || p[3] != 0 {
			t.Errorf("SAME h=%d k=%d s=%d d=%d: pads %v %v, want top %d bottom %d", c.h, c.k, c.s, c.d, p, err, c.want[0], c.want[1])
		}
	}
}

// TestONNXKeepsOrder: which dropped NHWC axes leave NCHW's remaining axes
// in NHWC's order.
func TestONNXKeepsOrder(t *testing.T) {
	for _, c := range []struct {
		drop []int
		want bool
	}{
		{[]int{1, 2}, true}, // [N, C] either way
		{[]int{3}, true},    // [N, H, W]
		{[]int{1}, false},   // NHWC [N, W, C], NCHW [N, C, W]
		{[]int{0}, false},   // [H, W, C] against [C, H, W]
		{[]int{0, 1, 2}, true},
	} {
		if got := keepsOrder(c.drop); got != c.want {
			t.Errorf("keepsOrder(%v) = %v", c.drop, got)
		}
	}
}
