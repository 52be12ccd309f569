package native

import (
	"context"
	"errors"
	"strings"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// graphOf assembles a Graph from nodes; consts gives the Const values.
func graphOf(nodes []*framework.NodeDef, consts map[string]*tensor.Tensor, inputs, outputs []string) *savedmodel.Graph {
	return &savedmodel.Graph{Nodes: nodes, Consts: consts, Inputs: inputs, Outputs: outputs}
}

// convNet: x -> Conv2D(3x3, SAME, stride 2) -> BiasAdd -> Relu -> Mean(H, W).
// Filter channel 0 is all ones, channel 1 all minus ones; bias (1, 100).
func convNet(xShape ...int64) *savedmodel.Graph {
	w := tensor.New(tensor.Float32, 3, 3, 1, 2)
	for i := range 9 {
		w.F32[2*i], w.F32[2*i+1] = 1, -1
	}
	xAttr := attrMap{"dtype": aType(tensor.Float32)}
	if xShape != nil {
		xAttr["shape"] = aShape(xShape...)
	}
	nodes := []*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, xAttr),
		nodeDef("w", "Const", nil, nil),
		nodeDef("conv", "Conv2D", []string{"x", "w:0"}, convAttrs("SAME", 2, 1)),
		nodeDef("b", "Const", nil, nil),
		nodeDef("bias", "BiasAdd", []string{"conv", "b"}, nil),
		nodeDef("relu", "Relu", []string{"bias"}, nil),
		nodeDef("axes", "Const", nil, nil),
		nodeDef("mean", "Mean", []string{"relu", "axes", "^conv"}, nil),
		nodeDef("out", "Identity", []string{"mean"}, nil),
		nodeDef("unused", "FooBarUnsupported", []string{"relu"}, nil),
	}
	consts := map[string]*tensor.Tensor{"w": w, "b": f32([]int{2}, 1, 100), "axes": i32([]int{2}, 1, 2)}
	return graphOf(nodes, consts, []string{"x"}, []string{"out:0"})
}

func TestEngineRun(t *testing.T) {
	e, err := New(convNet(-1, 4, 4, 1))
	if err != nil {
		t.Fatal(err)
	}
	// Image 0 is 1..16, image 1 twice that. Conv sums (see
	// TestConv2DSameStride2Asymmetric): 54, 45, 72, 54 per unit image.
	// c0: mean(conv+1) = (55+46+73+55)/4 = 57.25; for image 1: (109+91+145+109)/4 = 113.5
	// c1: mean(relu(100-conv)) = (46+55+28+46)/4 = 43.75; image 1: relu(-8, 10, -44, -8) -> 2.5
	x := tensor.New(tensor.Float32, 2, 4, 4, 1)
	for i := range 16 {
		x.F32[i], x.F32[16+i] = float32(i+1), 2*float32(i+1)
	}
	for _, key := range []string{"x", "x:0"} {
		out, err := e.Run(context.Background(), map[string]*tensor.Tensor{key: x})
		if err != nil {
			t.Fatal(err)
		}
		wantF32(t, out["out:0"], []int{2, 2}, 57.25, 43.75, 113.5, 2.5)
	}
	if got := e.Inputs(); len(got) != 1 || got[0] != "x" {
		t.Errorf("Inputs = %v", got)
	}
}

func TestEngineUnsupportedOp(t *testing.T) {
	g := convNet(-1, 4, 4, 1)
	g.Outputs = []string{"unused:0"}
	_, err := New(g)
	if !errors.Is(err, ErrUnsupportedOp) || !strings.Contains(err.Error(), `"FooBarUnsupported"`) || !strings.Contains(err.Error(), `"unused"`) {
		t.Fatalf("err = %v, want ErrUnsupportedOp naming op and node", err)
	}
	if Supported("FooBarUnsupported") || !Supported("Conv2D") {
		t.Error("Supported is wrong")
	}
	ops := SupportedOps()
	for i := 1; i < len(ops); i++ {
		if ops[i-1] >= ops[i] {
			t.Fatalf("SupportedOps not sorted: %v", ops)
		}
	}
}

func TestEngineBadGraphs(t *testing.T) {
	g := convNet(-1, 4, 4, 1)
	g.Outputs = []string{"nowhere:0"}
	if _, err := New(g); !errors.Is(err, ErrGraph) {
		t.Errorf("unknown output: err = %v", err)
	}
	g.Outputs = []string{"conv:1"}
	if _, err := New(g); !errors.Is(err, ErrGraph) {
		t.Errorf("output index out of range: err = %v", err)
	}
	g = convNet(-1, 4, 4, 1)
	g.Consts = nil
	if _, err := New(g); !errors.Is(err, ErrGraph) || !strings.Contains(err.Error(), `"w"`) {
		t.Errorf("Const without value: err = %v", err)
	}
	bad := graphOf([]*framework.NodeDef{nodeDef("c", "Conv2D", []string{"a", "b"}, convAttrs("SAME", 1, 1))}, nil, nil, []string{"c:0"})
	if _, err := New(bad); !errors.Is(err, ErrGraph) {
		t.Errorf("dangling inputs: err = %v", err)
	}
	if _, err := New(nil); !errors.Is(err, ErrGraph) {
		t.Errorf("nil graph: err = %v", err)
	}
}

func TestEngineBadFeeds(t *testing.T) {
	e, err := New(convNet(-1, 4, 4, 1))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	good := tensor.New(tensor.Float32, 1, 4, 4, 1)
	cases := map[string]map[string]*tensor.Tensor{
		"missing":     {},
		"unknown":     {"x": good, "y": good},
		"nil":         {"x": nil},
		"wrong shape": {"x": tensor.New(tensor.Float32, 1, 4, 4, 3)},
		"wrong rank":  {"x": tensor.New(tensor.Float32, 4, 4, 1)},
		"wrong dtype": {"x": tensor.New(tensor.Int32, 1, 4, 4, 1)},
		"short data":  {"x": {DType: tensor.Float32, Shape: []int{1, 4, 4, 1}, F32: make([]float32, 3)}},
	}
	for name, feeds := range cases {
		if _, err := e.Run(ctx, feeds); !errors.Is(err, ErrFeed) {
			t.Errorf("%s: err = %v, want ErrFeed", name, err)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.Run(cancelled, map[string]*tensor.Tensor{"x": good}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v", err)
	}
}

// With no declared shape, a bad input reaches the conv, whose shape check
// fails with an error naming the node.
func TestEngineShapeMismatchNamesNode(t *testing.T) {
	e, err := New(convNet())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Run(context.Background(), map[string]*tensor.Tensor{"x": tensor.New(tensor.Float32, 1, 4, 4, 3)})
	if !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), `node "conv" (Conv2D`) {
		t.Fatalf("err = %v, want ErrShape naming conv", err)
	}
}

// Intermediates are released after their last consumer: count the uses
// the engine computed for the conv net.
func TestEngineUses(t *testing.T) {
	e, err := New(convNet(-1, 4, 4, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, dead := e.byName["unused"]; dead {
		t.Error("node unused should be pruned")
	}
	for name, want := range map[string]int{"x": 1, "conv": 1, "relu": 1, "mean": 1, "out": 1} {
		if got := e.nodes[e.byName[name]].uses[0]; got != want {
			t.Errorf("uses of %s = %d, want %d", name, got, want)
		}
	}
}

func TestInferShapes(t *testing.T) {
	g := convNet(-1, 4, 4, 1)
	g.Nodes = g.Nodes[:len(g.Nodes)-1] // drop the unsupported node
	s, err := InferShapes(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string][]int{"x:0": {-1, 4, 4, 1}, "conv:0": {-1, 2, 2, 2}, "mean:0": {-1, 2}, "axes:0": {2}} {
		if !sameShape(s[k], want) {
			t.Errorf("%s: %v, want %v", k, s[k], want)
		}
	}
	// Unknown spatial dims stay unknown through a strided conv.
	s, err = InferShapes(g, map[string][]int{"x": {3, -1, -1, 1}})
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(s["conv:0"], []int{3, -1, -1, 2}) || !sameShape(s["mean:0"], []int{3, 2}) {
		t.Errorf("conv %v mean %v", s["conv:0"], s["mean:0"])
	}
	if _, err := InferShapes(g, map[string][]int{"x": {1, 4, 4, 3}}); !errors.Is(err, ErrShape) || !strings.Contains(err.Error(), `"conv"`) {
		t.Errorf("3 channels into a 1-channel conv: err = %v", err)
	}
	g = convNet() // no declared shape
	g.Nodes = g.Nodes[:len(g.Nodes)-1]
	if _, err := InferShapes(g, nil); !errors.Is(err, ErrShape) {
		t.Errorf("undeclared input shape: err = %v", err)
	}
}

// Keras' Flatten with a dynamic batch: reshape(x, stack([shape(x)[0], -1])).
func TestInferShapesFlatten(t *testing.T) {
	n1 := []int{1}
	nodes := []*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32), "shape": aShape(-1, 3, 3, 2)}),
		nodeDef("shape", "Shape", []string{"x"}, nil),
		nodeDef("b", "Const", nil, nil),
		nodeDef("e", "Const", nil, nil),
		nodeDef("s", "Const", nil, nil),
		nodeDef("batch", "StridedSlice", []string{"shape", "b", "e", "s"}, attrMap{"shrink_axis_mask": aInt(1)}),
		nodeDef("m1", "Const", nil, nil),
		nodeDef("target", "Pack", []string{"batch", "m1"}, nil),
		nodeDef("flat", "Reshape", []string{"x", "target"}, nil),
	}
	consts := map[string]*tensor.Tensor{"b": i32(n1, 0), "e": i32(n1, 1), "s": i32(n1, 1), "m1": i32(nil, -1)}
	g := graphOf(nodes, consts, []string{"x"}, []string{"flat:0"})
	s, err := InferShapes(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !sameShape(s["flat:0"], []int{-1, 18}) || !sameShape(s["batch:0"], []int{}) || !sameShape(s["target:0"], []int{2}) {
		t.Errorf("flat %v batch %v target %v", s["flat:0"], s["batch:0"], s["target:0"])
	}
	e, err := New(g)
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": iota32(5, 3, 3, 2)})
	if err != nil {
		t.Fatal(err)
	}
	wantShape(t, out["flat:0"], 5, 18)
}

// Pass-through kernels return their input slice; the engine must not reuse
// that slice for the next node (a chain of Identity nodes feeding a Relu).
func TestEngineIdentityChain(t *testing.T) {
	nodes := []*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)}),
		nodeDef("a", "Identity", []string{"x"}, nil),
		nodeDef("b", "Identity", []string{"a:0"}, nil),
		nodeDef("c", "Relu", []string{"b"}, nil),
	}
	e, err := New(graphOf(nodes, nil, []string{"x"}, []string{"b:0", "c:0"}))
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": f32([]int{2}, -1, 2)})
	if err != nil {
		t.Fatal(err)
	}
	wantF32(t, out["b:0"], []int{2}, -1, 2)
	wantF32(t, out["c:0"], []int{2}, 0, 2)
}
