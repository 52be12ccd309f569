package native

import (
	"fmt"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// TestStatic: the batch is -1 in every shape that depends on it; values
// that do not depend on it (constants, weights folded from weights, the
// fixed dims of a Shape) are known, and the batch's own shape arithmetic
// (Keras's Flatten) is not.
func TestStatic(t *testing.T) {
	nodes := []*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)}),
		nodeDef("w", "Const", nil, nil),
		nodeDef("two", "Const", nil, nil),
		nodeDef("w2", "Mul", []string{"w", "two"}, nil), // folds, whatever its size
		nodeDef("y", "Mul", []string{"x", "w2"}, nil),
		nodeDef("shape", "Shape", []string{"y"}, attrMap{"out_type": aType(tensor.Int32)}),
		nodeDef("b0", "Const", nil, nil),
		nodeDef("b1", "Const", nil, nil),
		nodeDef("s1", "Const", nil, nil),
		nodeDef("batch", "StridedSlice", []string{"shape", "b0", "b1", "s1"}, attrMap{"shrink_axis_mask": aInt(1), "Index": aType(tensor.Int32)}),
		nodeDef("e1", "Const", nil, nil),
		nodeDef("fixed", "StridedSlice", []string{"shape", "b1", "e1", "s1"}, attrMap{"Index": aType(tensor.Int32)}),
		nodeDef("minus1", "Const", nil, nil),
		nodeDef("flat", "Pack", []string{"batch", "minus1"}, attrMap{"N": aInt(2)}),
		nodeDef("out", "Reshape", []string{"y", "flat"}, nil),
	}
	w := tensor.New(tensor.Float32, 3, 5000) // over InferShapes' fold limit
	for i := range w.F32 {
		w.F32[i] = float32(i)
	}
	consts := map[string]*tensor.Tensor{"w": w, "two": f32(nil, 2), "b0": i32([]int{1}, 0), "b1": i32([]int{1}, 1),
		"s1": i32([]int{1}, 1), "e1": i32([]int{1}, 3), "minus1": i32(nil, -1)}
	g := graphOf(nodes, consts, []string{"x"}, []string{"out:0", "fixed:0"})
	got, err := Static(g, map[string][]int{"x": {-1, 3, 5000}})
	if err != nil {
		t.Fatal(err)
	}
	by := map[string]StaticTensor{}
	for _, n := range got {
		by[n.Def.GetName()] = n.Outputs[0]
	}
	for _, c := range []struct {
		node, shape, value string // value "": unknown
	}{
		{"y", "[-1 3 5000]", ""},
		{"w2", "[3 5000]", "w2[1]=2 w2[14999]=29998"},
		{"shape", "[3]", ""},
		{"batch", "[]", ""},
		{"fixed", "[2]", "[3 5000]"},
		{"flat", "[2]", ""},
		{"out", "[-1 15000]", ""},
	} {
		s := by[c.node]
		if fmt.Sprint(s.Shape) != c.shape {
			t.Errorf("%s: shape %v, want %s", c.node, s.Shape, c.shape)
		}
		var v string
		switch {
		case s.Value == nil:
		case c.node == "w2":
			v = fmt.Sprintf("w2[1]=%g w2[14999]=%g", s.Value.F32[1], s.Value.F32[14999])
		default:
			v = fmt.Sprint(s.Value.I32)
		}
		if v != c.value {
			t.Errorf("%s: value %q, want %q", c.node, v, c.value)
		}
	}
}
