package tflite_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/export/tflite"
	"github.com/graft-ml/graft/internal/testkit/zoo"
)

// TestZooMatchesTensorFlow converts every zoo model, cut at each stored
// tap and at its signature output, to TFLite alone (no preprocessing, no
// head: what TensorFlow computed is stored there), runs it in LiteRT and
// holds it to the zoo's parity checks against TensorFlow (zoo.Parity:
// max |LiteRT - TF| <= 1e-4 x max |TF|, 5e-4 for EfficientNetV2B0, and
// TensorFlow's top-1 where its margin allows). Unlike the exports' test,
// no softmax of a head can hide a difference here.
func TestZooMatchesTensorFlow(t *testing.T) {
	root := zoo.Root(t)
	py, _ := filepath.Abs("../../../build/exportenv/bin/python")
	if p := os.Getenv("GRAFT_EXPORT_PYTHON"); p != "" {
		py = p
	}
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no Python with LiteRT at %s: run make exportenv (or set GRAFT_EXPORT_PYTHON)", py)
	}
	script, _ := filepath.Abs("../../../scripts/export/tflite_run.py")
	zoo.Parity(t, root, "tflite", func(dir string, o native.Options) (backbone.Backbone, error) {
		p, err := native.Prepare(dir, o)
		if err != nil {
			return nil, err
		}
		in := p.Graph.Inputs[0]
		shape := append([]int{-1}, p.Input.Shape[1:]...)
		b, err := tflite.Convert(p.Graph, tflite.Options{
			Inputs: []tflite.Port{{Ref: in, Name: "images"}}, Outputs: []tflite.Port{{Ref: p.Graph.Outputs[0], Name: "features"}},
			InputShapes: map[string][]int{in: shape},
		})
		if err != nil {
			return nil, err
		}
		tmp := t.TempDir()
		model := filepath.Join(tmp, "m.tflite")
		if err := os.WriteFile(model, b, 0o644); err != nil {
			return nil, err
		}
		return &lite{py: py, script: script, model: model, dir: tmp, input: p.Input}, nil
	})
}

// lite is a backbone that LiteRT runs from one TFLite file.
type lite struct {
	py, script, model, dir string
	input                  backbone.TensorSpec
}

func (l *lite) Input() backbone.TensorSpec { return l.input }
func (l *lite) Tap() backbone.TensorSpec {
	return backbone.TensorSpec{Name: "features", DType: tensor.Float32}
}
func (l *lite) Close() error { return os.RemoveAll(l.dir) }

func (l *lite) Features(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	in, out := filepath.Join(l.dir, "in.f32"), filepath.Join(l.dir, "out.f32")
	raw := make([]byte, 0, 4*len(x.F32))
	for _, v := range x.F32 {
		raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
	}
	if err := os.WriteFile(in, raw, 0o644); err != nil {
		return nil, err
	}
	args := []string{l.script, l.model, in}
	for _, d := range x.Shape {
		args = append(args, fmt.Sprint(d))
	}
	res, err := exec.CommandContext(ctx, l.py, append(args, out)...).Output()
	if err != nil {
		if e, ok := err.(*exec.ExitError); ok {
			return nil, fmt.Errorf("tflite_run.py: %w\n%s", err, e.Stderr)
		}
		return nil, err
	}
	var shape []int
	if err := json.Unmarshal(res, &shape); err != nil {
		return nil, fmt.Errorf("tflite_run.py printed %q: %w", res, err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, err
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return tensor.FromFloat32(v, shape...)
}
