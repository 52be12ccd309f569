package native

import (
	"math"
	"testing"

	attrpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"
	shapepb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typespb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Attribute literals for NodeDefs built in tests.
type attrMap = map[string]*attrpb.AttrValue

func aInts(v ...int64) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_List{List: &attrpb.AttrValue_ListValue{I: v}}}
}
func aInt(v int64) *attrpb.AttrValue { return &attrpb.AttrValue{Value: &attrpb.AttrValue_I{I: v}} }
func aStr(s string) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_S{S: []byte(s)}}
}
func aBool(b bool) *attrpb.AttrValue     { return &attrpb.AttrValue{Value: &attrpb.AttrValue_B{B: b}} }
func aFloat(f float32) *attrpb.AttrValue { return &attrpb.AttrValue{Value: &attrpb.AttrValue_F{F: f}} }
func aType(dt tensor.DType) *attrpb.AttrValue {
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Type{Type: typespb.DataType(dt)}}
}
func aShape(dims ...int64) *attrpb.AttrValue {
	s := &shapepb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &shapepb.TensorShapeProto_Dim{Size: d})
	}
	return &attrpb.AttrValue{Value: &attrpb.AttrValue_Shape{Shape: s}}
}

func nodeDef(name, op string, inputs []string, at attrMap) *framework.NodeDef {
	return &framework.NodeDef{Name: name, Op: op, Input: inputs, Attr: at}
}

func f32(shape []int, v ...float32) *tensor.Tensor {
	t, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		panic(err)
	}
	return t
}

func i32(shape []int, v ...int32) *tensor.Tensor {
	t := tensor.New(tensor.Int32, shape...)
	copy(t.I32, v)
	return t
}

func i64(shape []int, v ...int64) *tensor.Tensor {
	t := tensor.New(tensor.Int64, shape...)
	copy(t.I64, v)
	return t
}

// iota32 returns 1, 2, ..., n as float32 in the given shape.
func iota32(shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(i + 1)
	}
	return t
}

// runOp compiles one node of op with the given attributes and runs it on
// inputs, through the same shape-then-run path the engine uses.
func runOp(op string, at attrMap, in ...*tensor.Tensor) ([]*tensor.Tensor, error) {
	names := make([]string, len(in))
	for i := range in {
		names[i] = "in"
	}
	def := nodeDef("n", op, names, at)
	k, err := compile(def, len(in), nil)
	if err != nil {
		return nil, err
	}
	return runNode(&node{def: def, k: k}, in, nil)
}

// mustRun is runOp that fails the test on error and returns output 0.
func mustRun(t *testing.T, op string, at attrMap, in ...*tensor.Tensor) *tensor.Tensor {
	t.Helper()
	out, err := runOp(op, at, in...)
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return out[0]
}

func wantShape(t *testing.T, got *tensor.Tensor, shape ...int) {
	t.Helper()
	if got == nil {
		t.Fatal("no tensor")
	}
	if !sameShape(got.Shape, shape) {
		t.Fatalf("shape %v, want %v", got.Shape, shape)
	}
}

func wantF32(t *testing.T, got *tensor.Tensor, shape []int, want ...float32) {
	t.Helper()
	wantShape(t, got, shape...)
	if len(got.F32) != len(want) {
		t.Fatalf("%d values, want %d", len(got.F32), len(want))
	}
	for i := range want {
		if math.IsNaN(float64(want[i])) && math.IsNaN(float64(got.F32[i])) {
			continue
		}
		// Not d > tol: a NaN got must fail too.
		if d := math.Abs(float64(got.F32[i] - want[i])); !(d <= 1e-5*math.Max(1, math.Abs(float64(want[i])))) {
			t.Fatalf("value %d = %v, want %v\ngot  %v\nwant %v", i, got.F32[i], want[i], got.F32, want)
		}
	}
}

func wantI32(t *testing.T, got *tensor.Tensor, shape []int, want ...int32) {
	t.Helper()
	wantShape(t, got, shape...)
	for i := range want {
		if got.I32[i] != want[i] {
			t.Fatalf("got %v, want %v", got.I32, want)
		}
	}
}

// plainAndFused builds g's engine twice: as written (pruned only) and as
// New optimises it, for tests that compare the two.
func plainAndFused(t *testing.T, g *savedmodel.Graph) (plain, opt *Engine) {
	t.Helper()
	plain, err := build(g, true)
	if err != nil {
		t.Fatal(err)
	}
	opt, err = New(g)
	if err != nil {
		t.Fatal(err)
	}
	return plain, opt
}
