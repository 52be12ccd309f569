package native

import (
	"context"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// TestArenaKeepsViewsAndResults runs a graph where a value dies while a
// view of it (Reshape shares its input's data) lives on, and a new value of
// the same size is made just then: recycling the buffer by the value's
// death alone would overwrite the view. It runs twice, so that the second
// run draws on recycled buffers, and checks the first run's results are
// still intact: they are the caller's.
func TestArenaKeepsViewsAndResults(t *testing.T) {
	nodes := []*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)}),
		nodeDef("a", "Neg", []string{"x"}, nil),
		nodeDef("shape", "Const", nil, nil),
		nodeDef("r", "Reshape", []string{"a", "shape"}, nil),
		nodeDef("b", "Abs", []string{"a"}, nil), // a's last use
		nodeDef("c", "Neg", []string{"b"}, nil), // same size as a, made while r lives
		nodeDef("d", "Relu", []string{"c"}, nil),
		nodeDef("shape2", "Const", nil, nil),
		nodeDef("r2", "Reshape", []string{"r", "shape2"}, nil),
		nodeDef("e", "Add", []string{"d", "r2"}, nil),
	}
	consts := map[string]*tensor.Tensor{"shape": i32([]int{2}, 3, 2), "shape2": i32([]int{2}, 2, 3)}
	e, err := New(graphOf(nodes, consts, []string{"x"}, []string{"r:0", "e:0"}))
	if err != nil {
		t.Fatal(err)
	}
	run := func(x ...float32) map[string]*tensor.Tensor {
		out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": f32([]int{2, 3}, x...)})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	// r = -x as 3x2; e = relu(-|x|) + (-x) = -x.
	first := run(1, -2, 3, -4, 5, -6)
	wantF32(t, first["r:0"], []int{3, 2}, -1, 2, -3, 4, -5, 6)
	wantF32(t, first["e:0"], []int{2, 3}, -1, 2, -3, 4, -5, 6)
	second := run(10, 20, 30, 40, 50, 60)
	wantF32(t, second["r:0"], []int{3, 2}, -10, -20, -30, -40, -50, -60)
	wantF32(t, second["e:0"], []int{2, 3}, -10, -20, -30, -40, -50, -60)
	wantF32(t, first["r:0"], []int{3, 2}, -1, 2, -3, 4, -5, 6)
	wantF32(t, first["e:0"], []int{2, 3}, -1, 2, -3, 4, -5, 6)
}
