package native

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// runSignature loads a SavedModel, flattens one signature and runs it on
// feeds keyed by signature input key; it returns outputs by output key.
func runSignature(t *testing.T, dir, sig string, feeds map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	m, err := savedmodel.Load(dir)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	s, err := m.Signature(sig)
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.FlattenSignature(sig)
	if err != nil {
		t.Fatalf("flatten %s: %v", dir, err)
	}
	e, err := New(g)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	byName := map[string]*tensor.Tensor{}
	for _, in := range s.Inputs {
		byName[strings.TrimSuffix(in.Name, ":0")] = feeds[in.Key]
	}
	out, err := e.Run(context.Background(), byName)
	if err != nil {
		t.Fatalf("%s: %v", dir, err)
	}
	res := map[string]*tensor.Tensor{}
	for i, o := range s.Outputs {
		res[o.Key] = out[g.Outputs[i]]
	}
	return res
}

func TestSavedModelHalfPlusTwo(t *testing.T) {
	t.Parallel()
	root := testmodules.TFModel(t, "")
	x := f32([]int{4, 1}, 0, 1, 2, 5)
	for _, d := range []string{"half_plus_two", "half_plus_two_v2", "half_plus_two_main_op"} {
		dir := filepath.Join(root, "cc/saved_model/testdata", d, "00000123")
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			// serving_default: y = 0.5x + 2; regress_x2_to_y3: y3 = 0.5x2 + 3.
			y := runSignature(t, dir, "serving_default", map[string]*tensor.Tensor{"x": x})["y"]
			wantF32(t, y, []int{4, 1}, 2, 2.5, 3, 4.5)
			y3 := runSignature(t, dir, "regress_x2_to_y3", map[string]*tensor.Tensor{"inputs": x})["outputs"]
			wantF32(t, y3, []int{4, 1}, 3, 3.5, 4, 5.5)
		})
	}
}

func TestSavedModelTF2Functions(t *testing.T) {
	t.Parallel()
	root := testmodules.TFModel(t, "")
	td := filepath.Join(root, "cc/saved_model/testdata")
	// x_plus_y_v2_debuginfo: x + y.
	out := runSignature(t, filepath.Join(td, "x_plus_y_v2_debuginfo"), "serving_default",
		map[string]*tensor.Tensor{"x": f32(nil, 1.5), "y": f32(nil, 2)})
	wantF32(t, out["output_0"], []int{}, 3.5)
	// VarsAndArithmeticObjectGraph: (a + x) * (b + y) / z + c with variables
	// x=1, y=2, z=3 and c=5: a=2, b=4 gives 3*6/3+5 = 11.
	out = runSignature(t, filepath.Join(td, "VarsAndArithmeticObjectGraph"), "serving_default",
		map[string]*tensor.Tensor{"a": f32(nil, 2), "b": f32(nil, 4)})
	wantF32(t, out["output_0"], []int{}, 11)
	// TF-TRT test models, TF2 (ReadVariableOp) and TF1 (VariableV2):
	// 13*input1 + 37*input2 - 45.
	in1, in2 := f32([]int{2, 1, 1}, 1, 2), f32([]int{2, 1, 1}, 1, -1)
	trt := filepath.Join(root, "python/compiler/tensorrt/test/testdata")
	out = runSignature(t, filepath.Join(trt, "tf_readvariableop_saved_model"), "serving_default",
		map[string]*tensor.Tensor{"input1": in1, "input2": in2})
	wantF32(t, out["output_0"], []int{2, 1, 1}, 5, -56)
	out = runSignature(t, filepath.Join(trt, "tf_variablev2_saved_model"), "serving_default",
		map[string]*tensor.Tensor{"input1": in1, "input2": in2})
	wantF32(t, out["output"], []int{2, 1, 1}, 5, -56)
}

// The TF-TRT sample model is a frozen two-layer conv net (Conv2D, BiasAdd,
// Relu). Its output is checked against the test's direct convolution run on
// the model's own weights, and its static shapes against the signature.
func TestSavedModelConvNet(t *testing.T) {
	t.Parallel()
	dir := testmodules.TFModel(t, "python/compiler/tensorrt/model_tests/sample_model")
	m, err := savedmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.FlattenSignature("serving_default")
	if err != nil {
		t.Fatal(err)
	}
	shapes, err := InferShapes(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s := shapes[g.Outputs[0]]; !sameShape(s, []int{-1, 22, 22, 8}) {
		t.Errorf("static output shape %v, want [-1 22 22 8]", s)
	}
	x := tensor.New(tensor.Float32, 2, 28, 28, 3)
	for i := range x.F32 {
		x.F32[i] = float32(i%97)/97 - 0.5
	}
	e, err := New(g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{g.Inputs[0]: x})
	if err != nil {
		t.Fatal(err)
	}
	// Reference: follow the graph's ops in order with the test's own loops.
	defs := map[string]*framework.NodeDef{}
	for _, n := range g.Nodes {
		defs[n.Name] = n
	}
	constOf := func(name string) *tensor.Tensor { // through Identity ("kernel/read")
		name = strings.TrimSuffix(name, ":0")
		for defs[name] != nil && defs[name].Op == "Identity" {
			name = strings.TrimSuffix(defs[name].Input[0], ":0")
		}
		return g.Consts[name]
	}
	cur := x
	for _, n := range g.Nodes {
		a := attrs{n}
		switch n.Op {
		case "Conv2D":
			f := constOf(n.Input[1])
			if f == nil || a.str("padding", "") != "VALID" || a.ints("strides", nil)[1] != 1 {
				t.Skipf("reference handles constant-filter VALID stride-1 convs only (node %s)", n.Name)
			}
			oh, ow := cur.Shape[1]-f.Shape[0]+1, cur.Shape[2]-f.Shape[1]+1
			next := tensor.New(tensor.Float32, cur.Shape[0], oh, ow, f.Shape[3])
			next.F32 = refConv(cur, f, 1, 1, 0, 0, oh, ow, false)
			cur = next
		case "BiasAdd":
			b := constOf(n.Input[1])
			for i := range cur.F32 {
				cur.F32[i] += b.F32[i%len(b.F32)]
			}
		case "Relu":
			for i, v := range cur.F32 {
				if v < 0 {
					cur.F32[i] = 0
				}
			}
		}
	}
	wantF32(t, out[g.Outputs[0]], cur.Shape, cur.F32...)
}
