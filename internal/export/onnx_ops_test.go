package export

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"
	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// opGraph builds a small TF graph on the image placeholder "x".
type opGraph struct {
	g *savedmodel.Graph
	n int
}

func newOpGraph(h, w, c int) *opGraph {
	b := &opGraph{g: &savedmodel.Graph{Consts: map[string]*tensor.Tensor{}, Inputs: []string{"x"}}}
	b.g.Nodes = append(b.g.Nodes, &ndpb.NodeDef{Name: "x", Op: "Placeholder", Attr: map[string]*avpb.AttrValue{
		"dtype": savedmodel.AttrType(tensor.Float32), "shape": savedmodel.AttrShape([]int64{-1, int64(h), int64(w), int64(c)})}})
	return b
}

func (b *opGraph) op(op string, in []string, kv ...any) string {
	b.n++
	name := fmt.Sprintf("%s_%d", op, b.n)
	attr := map[string]*avpb.AttrValue{"T": savedmodel.AttrType(tensor.Float32)}
	for i := 0; i+1 < len(kv); i += 2 {
		attr[kv[i].(string)] = kv[i+1].(*avpb.AttrValue)
	}
	b.g.Nodes = append(b.g.Nodes, &ndpb.NodeDef{Name: name, Op: op, Input: in, Attr: attr})
	return name
}

func (b *opGraph) konst(t *tensor.Tensor) string {
	v, err := savedmodel.AttrTensor(t)
	if err != nil {
		panic(err)
	}
	name := b.op("Const", nil, "dtype", savedmodel.AttrType(t.DType), "value", v)
	b.g.Consts[name] = t
	return name
}

func (b *opGraph) f(shape []int, v ...float32) string {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = v[i%len(v)] + float32(i)*0.01
	}
	return b.konst(t)
}

func (b *opGraph) i(v ...int32) string {
	t := tensor.New(tensor.Int32, len(v))
	copy(t.I32, v)
	return b.konst(t)
}

func (b *opGraph) pos() string {
	return b.op("AddV2", []string{b.op("Abs", []string{"x"}), b.f(nil, 0.5)})
}

func tfFloat(f float32) *avpb.AttrValue { return &avpb.AttrValue{Value: &avpb.AttrValue_F{F: f}} }

func ints(v ...int64) *avpb.AttrValue { return savedmodel.AttrInts(v...) }

// backboneONNX converts g alone: images x (NHWC) in, g's output (NHWC
// again when rank 4) out as "y".
func backboneONNX(g *savedmodel.Graph, h, w, c int) ([]byte, error) {
	st, err := native.StaticValues(g, map[string][]int{"x": {-1, h, w, c}})
	if err != nil {
		return nil, err
	}
	m := &onnxModel{graph: "ops", producer: "graft test"}
	m.inputs = []onnxValue{{name: "x", elem: onnxFloat, dims: []int64{-1, int64(h), int64(w), int64(c)}, param: "batch"}}
	conv := newConverter(m, st)
	conv.used["x"] = true
	if err := conv.convertGraph(g, conv.node("Transpose", []string{"x"}, intsAttr("perm", permToNCHW...))); err != nil {
		return nil, err
	}
	out := conv.vals[normRef(g.Outputs[0])]
	y, err := conv.data(out, false)
	if err != nil {
		return nil, err
	}
	m.nodes = append(m.nodes, &onnxNode{name: "y", op: "Identity", in: []string{y}, out: []string{"y"}})
	var dims []int64
	for _, d := range out.shape {
		dims = append(dims, int64(d))
	}
	m.outputs = []onnxValue{{name: "y", elem: onnxFloat, dims: dims, param: "batch"}}
	return m.encode(), nil
}

// TestExportONNXOps: each op the native engine runs, alone or in the
// patterns Keras writes, through the converter and onnxruntime, against
// graft's native engine on the same input (which internal/testkit/zoo checks
// against TensorFlow): 1e-5 of the largest value.
func TestExportONNXOps(t *testing.T) {
	py := os.Getenv("GRAFT_EXPORT_PYTHON")
	if py == "" {
		py, _ = filepath.Abs("../../build/exportenv/bin/python")
	}
	if _, err := os.Stat(py); err != nil {
		t.Skipf("no export oracles at %s: run make exportenv (or set GRAFT_EXPORT_PYTHON)", py)
	}
	const h, w, c = 6, 7, 4
	type tc struct {
		name  string
		build func(b *opGraph) string
	}
	var cases []tc
	for _, op := range []string{"Relu", "Relu6", "Sigmoid", "Tanh", "Elu", "Selu", "Softplus", "Exp", "Abs", "Floor", "Erf", "Erfc", "Neg", "Square", "Identity", "StopGradient"} {
		cases = append(cases, tc{op, func(b *opGraph) string { return b.op(op, []string{"x"}) }})
	}
	for _, op := range []string{"Sqrt", "Rsqrt", "Log", "Reciprocal"} {
		cases = append(cases, tc{op, func(b *opGraph) string { return b.op(op, []string{b.pos()}) }})
	}
	cases = append(cases, tc{"LeakyRelu", func(b *opGraph) string { return b.op("LeakyRelu", []string{"x"}, "alpha", tfFloat(0.1)) }})
	for _, op := range []string{"Add", "AddV2", "Sub", "Mul", "RealDiv", "Maximum", "Minimum", "SquaredDifference", "FloorDiv", "BiasAdd"} {
		cases = append(cases, tc{op, func(b *opGraph) string { return b.op(op, []string{"x", b.f([]int{c}, 0.3, -0.7, 1.1, 2)}) }})
	}
	cases = append(cases,
		tc{"Sub_const_first", func(b *opGraph) string { return b.op("Sub", []string{b.f([]int{1, 1, c}, 1, 2, 3, 4), "x"}) }},
		tc{"Mul_rank4_const", func(b *opGraph) string { return b.op("Mul", []string{"x", b.f([]int{1, h, 1, c}, 1, -2, 3)}) }},
		tc{"Pow", func(b *opGraph) string { return b.op("Pow", []string{b.pos(), b.f(nil, 1.5)}) }},
		tc{"AddN", func(b *opGraph) string {
			return b.op("AddN", []string{"x", b.op("Relu", []string{"x"}), "x"}, "N", savedmodel.AttrInt(3))
		}},
		tc{"Cast", func(b *opGraph) string {
			return b.op("Cast", []string{"x"}, "SrcT", savedmodel.AttrType(tensor.Float32), "DstT", savedmodel.AttrType(tensor.Float32))
		}},
		tc{"Conv2D_valid_s2", func(b *opGraph) string {
			return b.op("Conv2D", []string{"x", b.f([]int{3, 3, c, 5}, 0.1, -0.2, 0.05)}, "strides", ints(1, 2, 2, 1), "padding", savedmodel.AttrString("VALID"))
		}},
		tc{"Conv2D_same_dilated", func(b *opGraph) string {
			return b.op("Conv2D", []string{"x", b.f([]int{3, 2, c, 3}, 0.1, -0.2, 0.05)}, "strides", ints(1, 1, 1, 1), "dilations", ints(1, 2, 2, 1), "padding", savedmodel.AttrString("SAME"))
		}},
		tc{"Conv2D_explicit", func(b *opGraph) string {
			return b.op("Conv2D", []string{"x", b.f([]int{2, 3, c, 3}, 0.1, -0.2, 0.05)}, "strides", ints(1, 2, 1, 1), "padding", savedmodel.AttrString("EXPLICIT"),
				"explicit_paddings", ints(0, 0, 1, 2, 0, 1, 0, 0))
		}},
		tc{"DepthwiseConv2dNative", func(b *opGraph) string {
			return b.op("DepthwiseConv2dNative", []string{"x", b.f([]int{3, 3, c, 2}, 0.1, -0.3, 0.2)}, "strides", ints(1, 2, 2, 1), "padding", savedmodel.AttrString("SAME"))
		}},
		tc{"FusedBatchNormV3", func(b *opGraph) string {
			return b.op("FusedBatchNormV3", []string{"x", b.f([]int{c}, 1.5), b.f([]int{c}, 0.1), b.f([]int{c}, -0.2), b.f([]int{c}, 0.7)},
				"epsilon", tfFloat(0.001), "is_training", savedmodel.AttrBool(false), "U", savedmodel.AttrType(tensor.Float32))
		}},
		tc{"MaxPool_same", func(b *opGraph) string {
			return b.op("MaxPool", []string{"x"}, "ksize", ints(1, 3, 3, 1), "strides", ints(1, 2, 2, 1), "padding", savedmodel.AttrString("SAME"))
		}},
		tc{"AvgPool_same", func(b *opGraph) string {
			return b.op("AvgPool", []string{"x"}, "ksize", ints(1, 3, 3, 1), "strides", ints(1, 2, 2, 1), "padding", savedmodel.AttrString("SAME"))
		}},
		tc{"AvgPool_valid", func(b *opGraph) string {
			return b.op("AvgPool", []string{"x"}, "ksize", ints(1, 2, 2, 1), "strides", ints(1, 2, 2, 1), "padding", savedmodel.AttrString("VALID"))
		}},
		tc{"Mean_hw", func(b *opGraph) string {
			return b.op("Mean", []string{"x", b.i(1, 2)}, "Tidx", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Max_c_keep", func(b *opGraph) string {
			return b.op("Max", []string{"x", b.i(-1)}, "keep_dims", savedmodel.AttrBool(true), "Tidx", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Sum_h", func(b *opGraph) string {
			return b.op("Sum", []string{"x", b.i(1)}, "Tidx", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Prod_w_keep", func(b *opGraph) string {
			return b.op("Prod", []string{"x", b.i(2)}, "keep_dims", savedmodel.AttrBool(true), "Tidx", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Min_c", func(b *opGraph) string {
			return b.op("Min", []string{"x", b.i(3)}, "Tidx", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"ConcatV2", func(b *opGraph) string {
			return b.op("ConcatV2", []string{"x", b.op("Relu", []string{"x"}), b.i(3)}, "N", savedmodel.AttrInt(2), "Tidx", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Pad", func(b *opGraph) string {
			p := tensor.New(tensor.Int32, 4, 2)
			copy(p.I32, []int32{0, 0, 1, 2, 2, 1, 0, 1})
			return b.op("Pad", []string{"x", b.konst(p)}, "Tpaddings", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"PadV2", func(b *opGraph) string {
			p := tensor.New(tensor.Int32, 4, 2)
			copy(p.I32, []int32{0, 0, 1, 0, 0, 2, 0, 0})
			return b.op("PadV2", []string{"x", b.konst(p), b.f(nil, 0.5)}, "Tpaddings", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Slice", func(b *opGraph) string {
			return b.op("Slice", []string{"x", b.i(0, 1, 2, 0), b.i(-1, 3, 2, -1)}, "Index", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"StridedSlice_crop", func(b *opGraph) string { // NASNet's cropping
			return b.op("StridedSlice", []string{"x", b.i(0, 1, 1, 0), b.i(0, 0, 0, 0), b.i(1, 1, 1, 1)}, "Index", savedmodel.AttrType(tensor.Int32),
				"begin_mask", savedmodel.AttrInt(9), "end_mask", savedmodel.AttrInt(15))
		}},
		tc{"StridedSlice_step_shrink", func(b *opGraph) string {
			return b.op("StridedSlice", []string{"x", b.i(0, 1, 0, 2), b.i(0, 6, 0, 3), b.i(1, 2, 1, 1)}, "Index", savedmodel.AttrType(tensor.Int32),
				"begin_mask", savedmodel.AttrInt(5), "end_mask", savedmodel.AttrInt(5), "shrink_axis_mask", savedmodel.AttrInt(8))
		}},
		tc{"GatherV2_channels", func(b *opGraph) string {
			return b.op("GatherV2", []string{"x", b.i(3, 0, 1), b.i(3)}, "Tparams", savedmodel.AttrType(tensor.Float32), "Tindices", savedmodel.AttrType(tensor.Int32),
				"Taxis", savedmodel.AttrType(tensor.Int32), "batch_dims", savedmodel.AttrInt(0))
		}},
		tc{"Flatten_MatMul", func(b *opGraph) string { // Keras Flatten: Shape, StridedSlice, Pack, Reshape
			shape := b.op("Shape", []string{"x"}, "out_type", savedmodel.AttrType(tensor.Int32))
			n := b.op("StridedSlice", []string{shape, b.i(0), b.i(1), b.i(1)}, "T", savedmodel.AttrType(tensor.Int32), "Index", savedmodel.AttrType(tensor.Int32),
				"shrink_axis_mask", savedmodel.AttrInt(1))
			flat := b.op("Pack", []string{n, b.konst(scalarI32(-1))}, "T", savedmodel.AttrType(tensor.Int32), "N", savedmodel.AttrInt(2), "axis", savedmodel.AttrInt(0))
			r := b.op("Reshape", []string{"x", flat}, "Tshape", savedmodel.AttrType(tensor.Int32))
			return b.op("MatMul", []string{r, b.f([]int{3, h * w * c}, 0.01, -0.02)}, "transpose_b", savedmodel.AttrBool(true))
		}},
		tc{"Tensordot_Dense", func(b *opGraph) string { // Keras Dense on an image: the 1x1 Conv fold
			r := b.op("Reshape", []string{"x", b.i(-1, c)}, "Tshape", savedmodel.AttrType(tensor.Int32))
			m := b.op("MatMul", []string{r, b.f([]int{c, 5}, 0.2, -0.1)})
			back := b.op("Reshape", []string{m, b.konst(reshapeBack(h, w, 5))}, "Tshape", savedmodel.AttrType(tensor.Int32))
			return b.op("BiasAdd", []string{back, b.f([]int{5}, 0.5)})
		}},
		tc{"SE_block", func(b *opGraph) string { // Mean, Reshape to 1x1, Conv, Sigmoid, Mul
			m := b.op("Mean", []string{"x", b.i(1, 2)}, "Tidx", savedmodel.AttrType(tensor.Int32))
			r := b.op("Reshape", []string{m, b.i(-1, 1, 1, c)}, "Tshape", savedmodel.AttrType(tensor.Int32))
			s := b.op("Sigmoid", []string{b.op("Conv2D", []string{r, b.f([]int{1, 1, c, c}, 0.3, -0.2)}, "strides", ints(1, 1, 1, 1), "padding", savedmodel.AttrString("VALID"))})
			return b.op("Mul", []string{"x", s})
		}},
		tc{"Squeeze", func(b *opGraph) string {
			m := b.op("Mean", []string{"x", b.i(1, 2)}, "keep_dims", savedmodel.AttrBool(true), "Tidx", savedmodel.AttrType(tensor.Int32))
			return b.op("Squeeze", []string{m}, "squeeze_dims", ints(1, 2))
		}},
		tc{"ExpandDims", func(b *opGraph) string {
			m := b.op("Mean", []string{"x", b.i(1, 2)}, "Tidx", savedmodel.AttrType(tensor.Int32))
			return b.op("ExpandDims", []string{m, b.konst(scalarI32(1))}, "Tdim", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Pack", func(b *opGraph) string {
			m := b.op("Mean", []string{"x", b.i(1, 2)}, "Tidx", savedmodel.AttrType(tensor.Int32))
			return b.op("Pack", []string{m, b.op("Neg", []string{m})}, "N", savedmodel.AttrInt(2), "axis", savedmodel.AttrInt(1))
		}},
		tc{"Transpose_hw", func(b *opGraph) string {
			return b.op("Transpose", []string{"x", b.i(0, 2, 1, 3)}, "Tperm", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Transpose_nchw", func(b *opGraph) string {
			return b.op("Transpose", []string{"x", b.i(0, 3, 1, 2)}, "Tperm", savedmodel.AttrType(tensor.Int32))
		}},
		tc{"Softmax_4d", func(b *opGraph) string { return b.op("Softmax", []string{"x"}) }},
		tc{"BatchMatMulV2", func(b *opGraph) string {
			r := b.op("Reshape", []string{"x", b.i(-1, h*w, c)}, "Tshape", savedmodel.AttrType(tensor.Int32))
			return b.op("BatchMatMulV2", []string{r, b.f([]int{c, 3}, 0.2, -0.4)})
		}},
	)
	dir := t.TempDir()
	type entry struct {
		Name  string `json:"name"`
		Input []int  `json:"input"`
	}
	var entries []entry
	want := map[string]*tensor.Tensor{}
	x := tensor.New(tensor.Float32, 2, h, w, c)
	for i := range x.F32 {
		x.F32[i] = float32(math.Sin(float64(i)*0.37)) * 2
	}
	for _, tcase := range cases {
		b := newOpGraph(h, w, c)
		b.g.Outputs = []string{tcase.build(b) + ":0"}
		e, err := native.New(b.g)
		if err != nil {
			t.Fatalf("%s: native: %v", tcase.name, err)
		}
		out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
		if err != nil {
			t.Fatalf("%s: native run: %v", tcase.name, err)
		}
		want[tcase.name] = out[b.g.Outputs[0]]
		model, err := backboneONNX(b.g, h, w, c)
		if err != nil {
			t.Fatalf("%s: convert: %v", tcase.name, err)
		}
		os.WriteFile(filepath.Join(dir, tcase.name+".onnx"), model, 0o644)
		testmodules.WriteF32(t, filepath.Join(dir, tcase.name+".in.f32"), x.F32)
		entries = append(entries, entry{tcase.name, x.Shape})
	}
	js, _ := json.Marshal(entries)
	os.WriteFile(filepath.Join(dir, "cases.json"), js, 0o644)
	if out, err := exec.Command(py, "../../scripts/export/onnx_ops.py", dir).CombinedOutput(); err != nil {
		t.Fatalf("onnx_ops.py: %v\n%s", err, out)
	}
	var shapes map[string][]int
	b, _ := os.ReadFile(filepath.Join(dir, "results.json"))
	if err := json.Unmarshal(b, &shapes); err != nil {
		t.Fatal(err)
	}
	for _, tcase := range cases {
		w := want[tcase.name]
		got := testmodules.ReadF32(t, filepath.Join(dir, tcase.name+".out.f32"))
		if fmt.Sprint(shapes[tcase.name]) != fmt.Sprint(w.Shape) || len(got) != len(w.F32) {
			t.Errorf("%s: onnxruntime shape %v, native %v", tcase.name, shapes[tcase.name], w.Shape)
			continue
		}
		scale, worst := 0.0, 0.0
		for i := range got {
			scale = max(scale, math.Abs(float64(w.F32[i])))
			worst = max(worst, math.Abs(float64(got[i]-w.F32[i])))
		}
		if worst > 1e-5*max(scale, 1) {
			t.Errorf("%s: max |onnxruntime - native| = %.3g (largest value %.3g)", tcase.name, worst, scale)
		}
	}
}

func scalarI32(v int32) *tensor.Tensor {
	t := tensor.New(tensor.Int32)
	t.I32[0] = v
	return t
}

func reshapeBack(h, w, c int) *tensor.Tensor {
	t := tensor.New(tensor.Int32, 4)
	copy(t.I32, []int32{-1, int32(h), int32(w), int32(c)})
	return t
}
