package export

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	ndpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/images"
)

// ErrONNXOp reports a backbone op the ONNX export cannot express.
var ErrONNXOp = errors.New("export onnx: no ONNX mapping")

// onnxValueRef is what the converter knows of one TF tensor: the ONNX
// tensor holding it (in NCHW when nchw, for rank-4 tensors), or its value
// when static inference folded it.
type onnxValueRef struct {
	name   string
	nchw   bool
	konst  *tensor.Tensor
	varies *native.StaticTensor // a value that depends on the batch size
	shape  []int                // TF's (NHWC) static shape, -1 unknown
}

// converter turns the flat backbone graph into ONNX nodes. Rank-4 image
// tensors are kept in NCHW (ONNX Conv's layout) from the input transpose
// on; an op that needs TF's NHWC order gets a Transpose in front, cached
// per tensor, or a Reshape where both orders are the same in memory.
type converter struct {
	m      *onnxModel
	st     map[string]native.StaticTensor
	vals   map[string]*onnxValueRef
	other  map[string]string // "ref|nchw" / "ref|nhwc": converted copies
	consts map[string]string // initializer cache, by name
	used   map[string]bool   // ONNX names handed out
	n      *ndpb.NodeDef     // the TF node being converted
	// users lists each tensor's consuming nodes; skip the nodes a
	// pattern already converted.
	users map[string][]*ndpb.NodeDef
	skip  map[string]bool
}

func newConverter(m *onnxModel, st map[string]native.StaticTensor) *converter {
	return &converter{m: m, st: st, vals: map[string]*onnxValueRef{}, other: map[string]string{}, consts: map[string]string{}, used: map[string]bool{},
		users: map[string][]*ndpb.NodeDef{}, skip: map[string]bool{}}
}

func normRef(s string) string {
	if strings.Contains(s, ":") {
		return s
	}
	return s + ":0"
}

func (c *converter) unique(name string) string {
	for i := 0; ; i++ {
		n := name
		if i > 0 {
			n = name + "_" + strconv.Itoa(i)
		}
		if !c.used[n] {
			c.used[n] = true
			return n
		}
	}
}

// node adds one ONNX node with a single fresh output and returns it.
func (c *converter) node(op string, in []string, attrs ...onnxAttr) string {
	base := "graft/onnx"
	if c.n != nil {
		base = c.n.GetName()
	}
	out := c.unique(base + "/" + op)
	c.m.nodes = append(c.m.nodes, &onnxNode{name: out, op: op, in: in, out: []string{out}, attrs: attrs})
	return out
}

// constant adds an initializer.
func (c *converter) constant(t *tensor.Tensor) (string, error) {
	o := &onnxTensor{}
	for _, d := range t.Shape {
		o.dims = append(o.dims, int64(d))
	}
	switch t.DType {
	case tensor.Float32:
		o.f32 = t.F32
	case tensor.Int32:
		o.i32 = true
		for _, v := range t.I32 {
			o.i64 = append(o.i64, int64(v))
		}
	case tensor.Int64:
		o.i64 = t.I64
	default:
		return "", fmt.Errorf("%w: node %q needs a %s constant; the ONNX export writes float32 and integer tensors only", ErrONNXOp, c.nodeName(), t.DType)
	}
	if o.f32 == nil && o.i64 == nil {
		if t.DType == tensor.Float32 {
			o.f32 = []float32{}
		} else {
			o.i64 = []int64{}
		}
	}
	o.name = c.unique(c.nodeName() + "/const")
	c.m.inits = append(c.m.inits, o)
	return o.name, nil
}

func (c *converter) ints64(v ...int64) string {
	t := tensor.New(tensor.Int64, len(v))
	copy(t.I64, v)
	name, _ := c.constant(t)
	return name
}

func (c *converter) floats(shape []int, v ...float32) string {
	t := tensor.New(tensor.Float32, shape...)
	copy(t.F32, v)
	name, _ := c.constant(t)
	return name
}

func (c *converter) nodeName() string {
	if c.n == nil {
		return "graft"
	}
	return c.n.GetName()
}

// input returns what is known of the node's i-th input.
func (c *converter) input(i int) (*onnxValueRef, error) {
	in := c.n.GetInput()
	if i >= len(in) {
		return nil, fmt.Errorf("%w: node %q (%s) has %d inputs, want %d", ErrONNXOp, c.n.GetName(), c.n.GetOp(), len(in), i+1)
	}
	v, ok := c.vals[normRef(in[i])]
	if !ok {
		return nil, fmt.Errorf("%w: node %q reads %q, which the converter has not seen", ErrONNXOp, c.n.GetName(), in[i])
	}
	return v, nil
}

// konst returns the node's i-th input as a folded value.
func (c *converter) konst(i int, what string) (*tensor.Tensor, error) {
	v, err := c.input(i)
	if err != nil {
		return nil, err
	}
	if v.konst == nil {
		return nil, fmt.Errorf("%w: node %q (%s): its %s must be a constant (it depends on the images)", ErrONNXOp, c.n.GetName(), c.n.GetOp(), what)
	}
	return v.konst, nil
}

func intsOf(t *tensor.Tensor) []int64 {
	n := tensor.NumElements(t.Shape)
	out := make([]int64, n)
	for i := range n {
		switch t.DType {
		case tensor.Int64:
			out[i] = t.I64[i]
		case tensor.Float32:
			out[i] = int64(t.F32[i])
		default:
			out[i] = int64(t.I32[i])
		}
	}
	return out
}

// toNCHW and toNHWC map axes between the two orders of a rank-4 tensor.
var (
	nhwcToNCHW = [4]int{0, 2, 3, 1} // NHWC axis -> NCHW axis
	permToNCHW = []int64{0, 3, 1, 2}
	permToNHWC = []int64{0, 2, 3, 1}
)

// sameOrder reports whether a rank-4 NHWC shape is laid out in memory the
// same in NCHW (one channel, or a 1x1 image), so that a Reshape, not a
// Transpose, converts it.
func sameOrder(s []int) bool { return len(s) == 4 && (s[3] == 1 || (s[1] == 1 && s[2] == 1)) }

// data returns the ONNX name of a value in the layout wanted (nchw is only
// meaningful for rank 4), converting and caching as needed; constants
// become initializers.
func (c *converter) data(v *onnxValueRef, nchw bool) (string, error) {
	if v.varies != nil {
		return "", fmt.Errorf("%w: node %q (%s) reads a value that depends on the batch size; only Reshape's shape may", ErrONNXOp, c.n.GetName(), c.n.GetOp())
	}
	rank4 := len(v.shape) == 4
	if v.konst != nil {
		t := v.konst
		if rank4 && nchw {
			t = transpose(t, permToNCHW)
		}
		return c.constant(t)
	}
	if !rank4 || v.nchw == nchw {
		return v.name, nil
	}
	key := v.name + "|" + strconv.FormatBool(nchw)
	if n, ok := c.other[key]; ok {
		return n, nil
	}
	var out string
	if sameOrder(v.shape) {
		target := []int64{0, int64(v.shape[1]), int64(v.shape[2]), int64(v.shape[3])}
		if nchw {
			target = []int64{0, int64(v.shape[3]), int64(v.shape[1]), int64(v.shape[2])}
		}
		out = c.node("Reshape", []string{v.name, c.ints64(target...)})
	} else {
		perm := permToNHWC
		if nchw {
			perm = permToNCHW
		}
		out = c.node("Transpose", []string{v.name}, intsAttr("perm", perm...))
	}
	c.other[key] = out
	return out, nil
}

// transpose permutes a constant's axes (any dtype graft stores as numbers).
func transpose(t *tensor.Tensor, perm []int64) *tensor.Tensor {
	shape := make([]int, len(perm))
	for i, p := range perm {
		shape[i] = t.Shape[p]
	}
	out := tensor.New(t.DType, shape...)
	src := tensor.Strides(t.Shape)
	idx := make([]int, len(shape))
	n := tensor.NumElements(shape)
	for o := range n {
		s := 0
		for i, p := range perm {
			s += idx[i] * src[p]
		}
		switch {
		case t.F32 != nil:
			out.F32[o] = t.F32[s]
		case t.I32 != nil:
			out.I32[o] = t.I32[s]
		case t.I64 != nil:
			out.I64[o] = t.I64[s]
		}
		for i := len(idx) - 1; i >= 0; i-- {
			if idx[i]++; idx[i] < shape[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

// setOut records the node's output i.
func (c *converter) setOut(i int, name string, nchw bool) {
	ref := c.n.GetName() + ":" + strconv.Itoa(i)
	c.vals[ref] = &onnxValueRef{name: name, nchw: nchw, shape: c.st[ref].Shape}
}

// convertGraph maps every node of g onto ONNX; the image placeholder is
// in, already in NCHW.
func (c *converter) convertGraph(g *savedmodel.Graph, in string) error {
	for _, n := range g.Nodes {
		for _, i := range n.GetInput() {
			c.users[normRef(i)] = append(c.users[normRef(i)], n)
		}
	}
	for _, n := range g.Nodes {
		if c.skip[n.GetName()] {
			continue
		}
		c.n = n
		folded := true
		for i := 0; ; i++ {
			ref := n.GetName() + ":" + strconv.Itoa(i)
			s, ok := c.st[ref]
			if !ok {
				break
			}
			switch {
			case n.GetOp() == "Placeholder" || n.GetOp() == "PlaceholderWithDefault":
				folded = false
			case s.Varies:
				s := s
				c.vals[ref] = &onnxValueRef{varies: &s, shape: s.Shape}
			case s.Value != nil:
				c.vals[ref] = &onnxValueRef{konst: s.Value, shape: s.Shape}
			default:
				folded = false
			}
		}
		if folded {
			continue
		}
		if n.GetOp() == "Placeholder" || n.GetOp() == "PlaceholderWithDefault" {
			if n.GetName() != g.Inputs[0] {
				return fmt.Errorf("%w: the backbone reads a second input %q", ErrONNXOp, n.GetName())
			}
			c.setOut(0, in, true)
			continue
		}
		conv, ok := onnxOps[n.GetOp()]
		if !ok {
			return fmt.Errorf("%w for op %s (node %q): the ONNX export cannot write this backbone; export it as a SavedModel (--format savedmodel) instead", ErrONNXOp, n.GetOp(), n.GetName())
		}
		if err := conv(c); err != nil {
			return err
		}
	}
	c.n = nil
	return nil
}

type onnxConvFunc func(c *converter) error

// onnxOps maps TF ops onto ONNX; ops that only ever compute constants or
// shape arithmetic (Shape, Fill, Range, ...) are folded before and have
// no entry: reaching them with image data is an error naming them.
var onnxOps = map[string]onnxConvFunc{}

func init() {
	for _, op := range []string{"Identity", "StopGradient", "Snapshot", "PreventGradient", "IdentityN"} {
		onnxOps[op] = convIdentity
	}
	for op, onnx := range map[string]string{
		"Relu": "Relu", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Exp": "Exp", "Log": "Log", "Sqrt": "Sqrt",
		"Reciprocal": "Reciprocal", "Abs": "Abs", "Floor": "Floor", "Erf": "Erf", "Neg": "Neg",
		"Softplus": "Softplus", "Selu": "Selu", "Elu": "Elu",
	} {
		onnxOps[op] = unary(onnx)
	}
	onnxOps["Relu6"] = func(c *converter) error {
		return c.unaryWith(func(x string) string { return c.node("Clip", []string{x, c.floats(nil, 0), c.floats(nil, 6)}) })
	}
	onnxOps["Rsqrt"] = func(c *converter) error {
		return c.unaryWith(func(x string) string { return c.node("Reciprocal", []string{c.node("Sqrt", []string{x})}) })
	}
	onnxOps["Erfc"] = func(c *converter) error {
		return c.unaryWith(func(x string) string { return c.node("Sub", []string{c.floats(nil, 1), c.node("Erf", []string{x})}) })
	}
	onnxOps["Square"] = func(c *converter) error {
		return c.unaryWith(func(x string) string { return c.node("Mul", []string{x, x}) })
	}
	onnxOps["LeakyRelu"] = func(c *converter) error {
		alpha := float32(0.2)
		if a, ok := c.n.GetAttr()["alpha"]; ok {
			alpha = a.GetF()
		}
		return c.unaryWith(func(x string) string { return c.node("LeakyRelu", []string{x}, floatAttr("alpha", alpha)) })
	}
	onnxOps["Cast"] = convCast
	for op, onnx := range map[string]string{
		"Add": "Add", "AddV2": "Add", "BiasAdd": "Add", "BiasAddV1": "Add", "Sub": "Sub", "Mul": "Mul",
		"RealDiv": "Div", "Div": "Div", "Maximum": "Max", "Minimum": "Min", "Pow": "Pow", "AddN": "Sum",
	} {
		onnxOps[op] = nary(onnx, nil)
	}
	onnxOps["SquaredDifference"] = nary("Sub", func(c *converter, d string) string { return c.node("Mul", []string{d, d}) })
	onnxOps["FloorDiv"] = nary("Div", func(c *converter, d string) string { return c.node("Floor", []string{d}) })
	onnxOps["Conv2D"] = convConv
	onnxOps["DepthwiseConv2dNative"] = convConv
	for _, op := range []string{"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"} {
		onnxOps[op] = convBatchNorm
	}
	onnxOps["MaxPool"] = convPool("MaxPool")
	onnxOps["AvgPool"] = convPool("AveragePool")
	for op, onnx := range map[string]string{"Sum": "ReduceSum", "Mean": "ReduceMean", "Max": "ReduceMax", "Min": "ReduceMin", "Prod": "ReduceProd"} {
		onnxOps[op] = convReduce(onnx)
	}
	onnxOps["MatMul"] = convMatMul
	for _, op := range []string{"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"} {
		onnxOps[op] = convMatMul
	}
	onnxOps["Softmax"] = convSoftmax
	onnxOps["ConcatV2"] = convConcat
	onnxOps["Concat"] = convConcat
	onnxOps["Pack"] = convPack
	onnxOps["Pad"] = convPad
	onnxOps["PadV2"] = convPad
	onnxOps["Reshape"] = convReshape
	onnxOps["Squeeze"] = convSqueeze
	onnxOps["ExpandDims"] = convExpandDims
	onnxOps["Transpose"] = convTranspose
	onnxOps["Slice"] = convSlice
	onnxOps["StridedSlice"] = convSlice
	onnxOps["GatherV2"] = convGather
}

// onnxFoldedOnly are native ops whose outputs the export folds into
// constants (they compute shapes or constants); with image data they are
// an error.
var onnxFoldedOnly = []string{"Const", "NoOp", "Placeholder", "PlaceholderWithDefault", "Shape", "Size", "Rank", "Fill", "Range"}

func convIdentity(c *converter) error {
	for i := range c.n.GetInput() {
		v, err := c.input(i)
		if err != nil {
			return err
		}
		ref := c.n.GetName() + ":" + strconv.Itoa(i)
		cp := *v
		c.vals[ref] = &cp
	}
	return nil
}

func unary(op string) onnxConvFunc {
	return func(c *converter) error {
		var attrs []onnxAttr
		if op == "Elu" {
			attrs = append(attrs, floatAttr("alpha", 1))
		}
		return c.unaryWith(func(x string) string { return c.node(op, []string{x}, attrs...) })
	}
}

// unaryWith applies an elementwise function, keeping the input's layout.
func (c *converter) unaryWith(f func(x string) string) error {
	v, err := c.input(0)
	if err != nil {
		return err
	}
	x, err := c.data(v, v.nchw)
	if err != nil {
		return err
	}
	c.setOut(0, f(x), v.nchw && len(v.shape) == 4)
	return nil
}

func convCast(c *converter) error {
	to := onnxFloat
	switch dt := c.n.GetAttr()["DstT"].GetType(); dt {
	case 1, 19: // DT_FLOAT, DT_HALF (graft computes float16 as float32)
	case 3:
		to = onnxInt32
	case 9:
		to = onnxInt64
	default:
		return fmt.Errorf("%w: node %q casts to TF dtype %d; the ONNX export handles float32 and integers", ErrONNXOp, c.n.GetName(), dt)
	}
	return c.unaryWith(func(x string) string { return c.node("Cast", []string{x}, intAttr("to", int64(to))) })
}

// nary is a broadcasting elementwise op (then post, if any). Rank-4
// operands meet in NCHW when any of them is there; a lower-rank constant
// broadcasts on NHWC's trailing axes, so it is padded to rank 4 and
// transposed with them. A lower-rank image operand keeps the op in NHWC.
func nary(op string, post func(c *converter, x string) string) onnxConvFunc {
	return func(c *converter) error {
		var vs []*onnxValueRef
		for i := range c.n.GetInput() {
			v, err := c.input(i)
			if err != nil {
				return err
			}
			vs = append(vs, v)
		}
		outShape := c.st[c.n.GetName()+":0"].Shape
		nchw := false
		if len(outShape) == 4 {
			low := false
			for _, v := range vs {
				nchw = nchw || (v.konst == nil && v.nchw && len(v.shape) == 4)
				low = low || (v.konst == nil && len(v.shape) < 4)
			}
			nchw = nchw && !low
		}
		var ins []string
		for _, v := range vs {
			if nchw && v.konst != nil && len(v.konst.Shape) < 4 {
				shape := append(make([]int, 4-len(v.konst.Shape)), v.konst.Shape...)
				for i := range 4 - len(v.konst.Shape) {
					shape[i] = 1
				}
				t := *v.konst
				t.Shape = shape
				v = &onnxValueRef{konst: &t, shape: shape}
			}
			x, err := c.data(v, nchw)
			if err != nil {
				return err
			}
			ins = append(ins, x)
		}
		y := c.node(op, ins)
		if post != nil {
			y = post(c, y)
		}
		c.setOut(0, y, nchw)
		return nil
	}
}

// spatial reads a TF NHWC [1, h, w, 1] attribute as (h, w).
func spatial(n *ndpb.NodeDef, name string, def int64) (int64, int64, error) {
	v := n.GetAttr()[name].GetList().GetI()
	if len(v) == 0 {
		return def, def, nil
	}
	if len(v) != 4 || v[0] != 1 || v[3] != 1 {
		return 0, 0, fmt.Errorf("%w: node %q: %s %v is not [1, h, w, 1]", ErrONNXOp, n.GetName(), name, v)
	}
	return v[1], v[2], nil
}

// pads gives ONNX pads [top, left, bottom, right] for TF's padding of an
// h x w input with window kh x kw (dilated), strides sh x sw.
func pads(n *ndpb.NodeDef, h, w, kh, kw, sh, sw, dh, dw int64) ([]int64, error) {
	if df := string(n.GetAttr()["data_format"].GetS()); df != "" && df != "NHWC" {
		return nil, fmt.Errorf("%w: node %q has data_format %s; the export reads NHWC graphs", ErrONNXOp, n.GetName(), df)
	}
	switch p := string(n.GetAttr()["padding"].GetS()); p {
	case "VALID":
		return []int64{0, 0, 0, 0}, nil
	case "SAME":
		same := func(in, k, s, d int64) (int64, int64) {
			out := (in + s - 1) / s
			total := max((out-1)*s+(k-1)*d+1-in, 0)
			return total / 2, total - total/2
		}
		t, b := same(h, kh, sh, dh)
		l, r := same(w, kw, sw, dw)
		return []int64{t, l, b, r}, nil
	case "EXPLICIT":
		e := n.GetAttr()["explicit_paddings"].GetList().GetI()
		if len(e) != 8 {
			return nil, fmt.Errorf("%w: node %q: explicit_paddings %v", ErrONNXOp, n.GetName(), e)
		}
		return []int64{e[2], e[4], e[3], e[5]}, nil
	default:
		return nil, fmt.Errorf("%w: node %q has padding %q", ErrONNXOp, n.GetName(), p)
	}
}

func convConv(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	k, err := c.konst(1, "filter")
	if err != nil {
		return err
	}
	if len(x.shape) != 4 || x.shape[1] < 0 || x.shape[2] < 0 || len(k.Shape) != 4 {
		return fmt.Errorf("%w: node %q: input %v, filter %v; want NHWC with a known size", ErrONNXOp, c.n.GetName(), x.shape, k.Shape)
	}
	sh, sw, err := spatial(c.n, "strides", 1)
	if err != nil {
		return err
	}
	dh, dw, err := spatial(c.n, "dilations", 1)
	if err != nil {
		return err
	}
	kh, kw := int64(k.Shape[0]), int64(k.Shape[1])
	p, err := pads(c.n, int64(x.shape[1]), int64(x.shape[2]), kh, kw, sh, sw, dh, dw)
	if err != nil {
		return err
	}
	ch := int64(x.shape[3])
	var w *tensor.Tensor
	group := int64(1)
	if c.n.GetOp() == "DepthwiseConv2dNative" {
		// [kh, kw, C, M] -> [C*M, 1, kh, kw]: output channel c*M+m.
		w = transpose(k, []int64{2, 3, 0, 1})
		w.Shape = []int{k.Shape[2] * k.Shape[3], 1, k.Shape[0], k.Shape[1]}
		group = ch
	} else {
		w = transpose(k, []int64{3, 2, 0, 1}) // HWIO -> OIHW
		if in := int64(k.Shape[2]); in != ch {
			group = ch / in
		}
	}
	xs, err := c.data(x, true)
	if err != nil {
		return err
	}
	wn, err := c.constant(w)
	if err != nil {
		return err
	}
	c.setOut(0, c.node("Conv", []string{xs, wn}, intsAttr("strides", sh, sw), intsAttr("dilations", dh, dw),
		intsAttr("pads", p...), intAttr("group", group), intsAttr("kernel_shape", kh, kw)), true)
	return nil
}

func convBatchNorm(c *converter) error {
	if c.n.GetAttr()["is_training"].GetB() {
		return fmt.Errorf("%w: node %q is a batch norm in training mode", ErrONNXOp, c.n.GetName())
	}
	if df := string(c.n.GetAttr()["data_format"].GetS()); df != "" && df != "NHWC" {
		return fmt.Errorf("%w: node %q has data_format %s", ErrONNXOp, c.n.GetName(), df)
	}
	x, err := c.input(0)
	if err != nil {
		return err
	}
	ins := []string{}
	xs, err := c.data(x, true)
	if err != nil {
		return err
	}
	ins = append(ins, xs)
	for i, what := range []string{"scale", "offset", "mean", "variance"} {
		t, err := c.konst(i+1, what)
		if err != nil {
			return err
		}
		n, err := c.constant(t)
		if err != nil {
			return err
		}
		ins = append(ins, n)
	}
	eps := float32(1e-4)
	if a, ok := c.n.GetAttr()["epsilon"]; ok {
		eps = a.GetF()
	}
	if len(x.shape) != 4 && len(x.shape) != 2 {
		return fmt.Errorf("%w: node %q: batch norm of rank %d", ErrONNXOp, c.n.GetName(), len(x.shape))
	}
	c.setOut(0, c.node("BatchNormalization", ins, floatAttr("epsilon", eps)), len(x.shape) == 4)
	return nil
}

func convPool(op string) onnxConvFunc {
	return func(c *converter) error {
		x, err := c.input(0)
		if err != nil {
			return err
		}
		if len(x.shape) != 4 || x.shape[1] < 0 || x.shape[2] < 0 {
			return fmt.Errorf("%w: node %q pools %v", ErrONNXOp, c.n.GetName(), x.shape)
		}
		kh, kw, err := spatial(c.n, "ksize", 1)
		if err != nil {
			return err
		}
		sh, sw, err := spatial(c.n, "strides", 1)
		if err != nil {
			return err
		}
		p, err := pads(c.n, int64(x.shape[1]), int64(x.shape[2]), kh, kw, sh, sw, 1, 1)
		if err != nil {
			return err
		}
		xs, err := c.data(x, true)
		if err != nil {
			return err
		}
		// AveragePool's count_include_pad defaults to 0: TF's SAME average
		// also divides by the window's part inside the image.
		c.setOut(0, c.node(op, []string{xs}, intsAttr("kernel_shape", kh, kw), intsAttr("strides", sh, sw), intsAttr("pads", p...)), true)
		return nil
	}
}

// keepsOrder reports whether dropping the rank-4 NHWC axes in drop leaves
// the remaining axes in the same order in NCHW, so that an op that drops
// them can run on the NCHW tensor.
func keepsOrder(drop []int) bool {
	var nhwc, nchw []int
	for a := range 4 {
		if !slices.Contains(drop, a) {
			nhwc = append(nhwc, a)
		}
	}
	for _, a := range []int{0, 3, 1, 2} { // NCHW order, as NHWC axes
		if !slices.Contains(drop, a) {
			nchw = append(nchw, a)
		}
	}
	return slices.Equal(nhwc, nchw)
}

func normAxes(ax []int64, rank int) []int {
	out := make([]int, len(ax))
	for i, a := range ax {
		if a < 0 {
			a += int64(rank)
		}
		out[i] = int(a)
	}
	return out
}

// layoutFor picks the layout an axis-taking op runs x in: NCHW when x is
// there and (keep, or dropping the axes keeps the order), and maps axes.
func layoutFor(x *onnxValueRef, axes []int, keep bool) (bool, []int64) {
	nchw := x.konst == nil && x.nchw && len(x.shape) == 4 && (keep || keepsOrder(axes))
	out := make([]int64, len(axes))
	for i, a := range axes {
		out[i] = int64(a)
		if nchw {
			out[i] = int64(nhwcToNCHW[a])
		}
	}
	return nchw, out
}

func convReduce(op string) onnxConvFunc {
	return func(c *converter) error {
		x, err := c.input(0)
		if err != nil {
			return err
		}
		ax, err := c.konst(1, "reduction_indices")
		if err != nil {
			return err
		}
		keep := c.n.GetAttr()["keep_dims"].GetB()
		nchw, axes := layoutFor(x, normAxes(intsOf(ax), len(x.shape)), keep)
		xs, err := c.data(x, nchw)
		if err != nil {
			return err
		}
		k := int64(0)
		if keep {
			k = 1
		}
		var y string
		if op == "ReduceSum" { // axes became an input in opset 13
			y = c.node(op, []string{xs, c.ints64(axes...)}, intAttr("keepdims", k))
		} else {
			y = c.node(op, []string{xs}, intsAttr("axes", axes...), intAttr("keepdims", k))
		}
		c.setOut(0, y, nchw && keep)
		return nil
	}
}

func convMatMul(c *converter) error {
	ta, tb := "transpose_a", "transpose_b"
	if c.n.GetOp() != "MatMul" {
		ta, tb = "adj_x", "adj_y"
	}
	var ins []string
	for i, attr := range []string{ta, tb} {
		v, err := c.input(i)
		if err != nil {
			return err
		}
		trans := c.n.GetAttr()[attr].GetB()
		r := len(v.shape)
		perm := make([]int64, r)
		for j := range perm {
			perm[j] = int64(j)
		}
		if r >= 2 {
			perm[r-1], perm[r-2] = perm[r-2], perm[r-1]
		}
		if v.konst != nil && trans {
			v = &onnxValueRef{konst: transpose(v.konst, perm), shape: nil}
			trans = false
		}
		x, err := c.data(v, false)
		if err != nil {
			return err
		}
		if trans {
			x = c.node("Transpose", []string{x}, intsAttr("perm", perm...))
		}
		ins = append(ins, x)
	}
	c.setOut(0, c.node("MatMul", ins), false)
	return nil
}

func convSoftmax(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	nchw := x.nchw && len(x.shape) == 4
	xs, err := c.data(x, nchw)
	if err != nil {
		return err
	}
	axis := int64(-1)
	if nchw {
		axis = 1
	}
	c.setOut(0, c.node("Softmax", []string{xs}, intAttr("axis", axis)), nchw)
	return nil
}

func convConcat(c *converter) error {
	in := c.n.GetInput()
	first, last, axisAt := 0, len(in)-1, len(in)-1 // ConcatV2: axis last
	if c.n.GetOp() == "Concat" {
		first, last, axisAt = 1, len(in), 0
	}
	ax, err := c.konst(axisAt, "axis")
	if err != nil {
		return err
	}
	outShape := c.st[c.n.GetName()+":0"].Shape
	var vs []*onnxValueRef
	nchw := len(outShape) == 4
	imageNCHW := false
	for i := first; i < last; i++ {
		v, err := c.input(i)
		if err != nil {
			return err
		}
		vs = append(vs, v)
		imageNCHW = imageNCHW || (v.konst == nil && v.nchw)
	}
	nchw = nchw && imageNCHW
	axis := normAxes(intsOf(ax), len(outShape))[0]
	if nchw {
		axis = nhwcToNCHW[axis]
	}
	var ins []string
	for _, v := range vs {
		x, err := c.data(v, nchw)
		if err != nil {
			return err
		}
		ins = append(ins, x)
	}
	c.setOut(0, c.node("Concat", ins, intAttr("axis", int64(axis))), nchw)
	return nil
}

func convPack(c *converter) error {
	outShape := c.st[c.n.GetName()+":0"].Shape
	axis := c.n.GetAttr()["axis"].GetI()
	if axis < 0 {
		axis += int64(len(outShape))
	}
	var ins []string
	for i := range c.n.GetInput() {
		v, err := c.input(i)
		if err != nil {
			return err
		}
		x, err := c.data(v, false)
		if err != nil {
			return err
		}
		ins = append(ins, c.node("Unsqueeze", []string{x, c.ints64(axis)}))
	}
	c.setOut(0, c.node("Concat", ins, intAttr("axis", axis)), false)
	return nil
}

func convPad(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	p, err := c.konst(1, "paddings")
	if err != nil {
		return err
	}
	pp := intsOf(p)
	r := len(pp) / 2
	nchw := x.konst == nil && x.nchw && r == 4
	before, after := make([]int64, r), make([]int64, r)
	for a := range r {
		to := a
		if nchw {
			to = nhwcToNCHW[a]
		}
		before[to], after[to] = pp[2*a], pp[2*a+1]
	}
	xs, err := c.data(x, nchw)
	if err != nil {
		return err
	}
	ins := []string{xs, c.ints64(append(before, after...)...)}
	if c.n.GetOp() == "PadV2" {
		v, err := c.konst(2, "constant_values")
		if err != nil {
			return err
		}
		ins = append(ins, c.floats(nil, v.F32[0]))
	}
	c.setOut(0, c.node("Pad", ins, stringAttr("mode", "constant")), nchw)
	return nil
}

// convReshape reads the target shape folded; entries that depend on the
// batch size become -1 (or 0, "the input's dim", when a -1 is there
// already and the entry is the input's batch dim).
func convReshape(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	s, err := c.input(1)
	if err != nil {
		return err
	}
	var target []int64
	switch {
	case s.konst != nil:
		target = intsOf(s.konst)
	case s.varies != nil && s.varies.Alt != nil:
		target = intsOf(s.varies.Value)
		alt := intsOf(s.varies.Alt)
		hasFree := slices.Contains(target, -1)
		for i := range target {
			if target[i] == alt[i] {
				continue
			}
			switch {
			case !hasFree:
				target[i], hasFree = -1, true
			case i == 0 && target[0] == native.Probe && len(x.shape) > 0 && x.shape[0] < 0:
				target[i] = 0
			default:
				return fmt.Errorf("%w: node %q reshapes to a shape that depends on the batch size in more than one dim", ErrONNXOp, c.n.GetName())
			}
		}
	default:
		return fmt.Errorf("%w: node %q reshapes to a shape computed from the images", ErrONNXOp, c.n.GetName())
	}
	if ok, err := c.pointwiseDense(x, target); ok || err != nil {
		return err
	}
	// Reading NCHW directly is right only where both orders agree.
	xs := x.name
	if x.konst != nil || !x.nchw || len(x.shape) != 4 || !sameOrder(x.shape) {
		if xs, err = c.data(x, false); err != nil {
			return err
		}
	}
	c.setOut(0, c.node("Reshape", []string{xs, c.ints64(target...)}), false)
	return nil
}

func convSqueeze(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	var axes []int
	if dims := c.n.GetAttr()["squeeze_dims"].GetList().GetI(); len(dims) > 0 {
		axes = normAxes(dims, len(x.shape))
	} else {
		for i, d := range x.shape {
			if d == 1 {
				axes = append(axes, i)
			}
		}
	}
	nchw, ax := layoutFor(x, axes, false)
	xs, err := c.data(x, nchw)
	if err != nil {
		return err
	}
	c.setOut(0, c.node("Squeeze", []string{xs, c.ints64(ax...)}), false)
	return nil
}

func convExpandDims(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	d, err := c.konst(1, "dim")
	if err != nil {
		return err
	}
	axis := intsOf(d)[0]
	if axis < 0 {
		axis += int64(len(x.shape)) + 1
	}
	xs, err := c.data(x, false)
	if err != nil {
		return err
	}
	c.setOut(0, c.node("Unsqueeze", []string{xs, c.ints64(axis)}), false)
	return nil
}

func convTranspose(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	p, err := c.konst(1, "perm")
	if err != nil {
		return err
	}
	perm := intsOf(p)
	if x.konst == nil && x.nchw && len(perm) == 4 {
		// y = x_nhwc^perm = x_nchw^q with q[i] = where NHWC axis perm[i] is.
		q := make([]int64, 4)
		for i, a := range perm {
			q[i] = int64(nhwcToNCHW[a])
		}
		r := []int64{q[0], q[3], q[1], q[2]} // y's own NCHW from x_nchw
		switch {
		case slices.Equal(q, []int64{0, 1, 2, 3}):
			c.setOut(0, x.name, false)
		case slices.Equal(r, []int64{0, 1, 2, 3}):
			c.setOut(0, x.name, true)
		default:
			c.setOut(0, c.node("Transpose", []string{x.name}, intsAttr("perm", q...)), false)
		}
		return nil
	}
	xs, err := c.data(x, false)
	if err != nil {
		return err
	}
	c.setOut(0, c.node("Transpose", []string{xs}, intsAttr("perm", perm...)), false)
	return nil
}

// convSlice maps Slice (begin, size) and StridedSlice (begin, end,
// strides and the begin/end/shrink masks; no ellipsis or new axes).
func convSlice(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	r := len(x.shape)
	const big = int64(1) << 62
	var starts, ends, steps []int64
	var shrink []int
	if c.n.GetOp() == "Slice" {
		b, err := c.konst(1, "begin")
		if err != nil {
			return err
		}
		s, err := c.konst(2, "size")
		if err != nil {
			return err
		}
		starts = intsOf(b)
		for i, n := range intsOf(s) {
			e := starts[i] + n
			if n < 0 {
				e = big
			}
			ends, steps = append(ends, e), append(steps, 1)
		}
	} else {
		a := c.n.GetAttr()
		if a["ellipsis_mask"].GetI() != 0 || a["new_axis_mask"].GetI() != 0 {
			return fmt.Errorf("%w: node %q: StridedSlice with an ellipsis or new axes", ErrONNXOp, c.n.GetName())
		}
		var vals [3][]int64
		for i, what := range []string{"begin", "end", "strides"} {
			t, err := c.konst(i+1, what)
			if err != nil {
				return err
			}
			vals[i] = intsOf(t)
		}
		bm, em, sm := a["begin_mask"].GetI(), a["end_mask"].GetI(), a["shrink_axis_mask"].GetI()
		starts, ends, steps = vals[0], vals[1], vals[2]
		for i := range starts {
			if bm&(1<<i) != 0 {
				starts[i] = 0
				if steps[i] < 0 {
					starts[i] = big
				}
			}
			if em&(1<<i) != 0 {
				ends[i] = big
				if steps[i] < 0 {
					ends[i] = -big
				}
			}
			if sm&(1<<i) != 0 {
				ends[i], steps[i] = starts[i]+1, 1
				if starts[i] == -1 {
					ends[i] = big
				}
				shrink = append(shrink, i)
			}
		}
	}
	axes := make([]int, len(starts))
	for i := range axes {
		axes[i] = i
	}
	nchw := x.konst == nil && x.nchw && r == 4 && len(shrink) == 0
	ax := make([]int64, len(axes))
	for i, a := range axes {
		ax[i] = int64(a)
		if nchw {
			ax[i] = int64(nhwcToNCHW[a])
		}
	}
	xs, err := c.data(x, nchw)
	if err != nil {
		return err
	}
	y := c.node("Slice", []string{xs, c.ints64(starts...), c.ints64(ends...), c.ints64(ax...), c.ints64(steps...)})
	if len(shrink) > 0 {
		sq := make([]int64, len(shrink))
		for i, a := range shrink {
			sq[i] = int64(a)
		}
		y = c.node("Squeeze", []string{y, c.ints64(sq...)})
	}
	c.setOut(0, y, nchw)
	return nil
}

func convGather(c *converter) error {
	x, err := c.input(0)
	if err != nil {
		return err
	}
	idx, err := c.konst(1, "indices")
	if err != nil {
		return err
	}
	ax, err := c.konst(2, "axis")
	if err != nil {
		return err
	}
	if c.n.GetAttr()["batch_dims"].GetI() != 0 {
		return fmt.Errorf("%w: node %q: GatherV2 with batch_dims", ErrONNXOp, c.n.GetName())
	}
	axis := normAxes(intsOf(ax), len(x.shape))[0]
	nchw := x.konst == nil && x.nchw && len(x.shape) == 4 && len(idx.Shape) == 1
	if nchw {
		axis = nhwcToNCHW[axis]
	}
	xs, err := c.data(x, nchw)
	if err != nil {
		return err
	}
	ii := tensor.New(tensor.Int64, idx.Shape...)
	copy(ii.I64, intsOf(idx))
	in, err := c.constant(ii)
	if err != nil {
		return err
	}
	c.setOut(0, c.node("Gather", []string{xs, in}, intAttr("axis", int64(axis))), nchw)
	return nil
}

// preprocessONNX adds the run's preprocessing on x (NCHW, 0..255), as the
// SavedModel export's preprocess does.
func (c *converter) preprocessONNX(x, mode string, ch int) string {
	col := []int{1, ch, 1, 1}
	switch mode {
	case images.Unit:
		x = c.node("Div", []string{x, c.floats(nil, 255)})
	case images.TF:
		x = c.node("Div", []string{x, c.floats(nil, 127.5)})
		x = c.node("Sub", []string{x, c.floats(nil, 1)})
	case images.Torch:
		x = c.node("Div", []string{x, c.floats(nil, 255)})
		x = c.node("Sub", []string{x, c.floats(col, perChannel(torchMean, ch)...)})
		x = c.node("Div", []string{x, c.floats(col, perChannel(torchStd, ch)...)})
	case images.Caffe:
		x = c.node("Sub", []string{x, c.floats(col, perChannel(caffeMean, ch)...)})
		if ch == 3 { // RGB -> BGR
			x = c.node("Gather", []string{x, c.ints64(2, 1, 0)}, intAttr("axis", 1))
		}
	}
	return x
}

// headONNX adds the trained head on the features (NCHW) and returns the
// probabilities' name.
func (c *converter) headONNX(x string, spec head.Spec, lay head.Layout, params []float32) (string, error) {
	param := func(name string) *tensor.Tensor {
		for _, t := range lay.Tensors {
			if t.Name == name {
				v := tensor.New(tensor.Float32, t.Shape...)
				copy(v.F32, params[t.Offset:t.Offset+t.Size])
				return v
			}
		}
		return nil
	}
	if spec.Kind == head.KindConv {
		k := param(head.ConvKernel)
		w, err := c.constant(transpose(k, []int64{3, 2, 0, 1}))
		if err != nil {
			return "", err
		}
		b, err := c.constant(param(head.ConvBias))
		if err != nil {
			return "", err
		}
		p := int64(spec.Kernel-1) / 2
		x = c.node("Conv", []string{x, w, b}, intsAttr("kernel_shape", int64(spec.Kernel), int64(spec.Kernel)), intsAttr("pads", p, p, p, p))
		x = c.node("Relu", []string{x})
	}
	x = c.node("ReduceMean", []string{x}, intsAttr("axes", 2, 3), intAttr("keepdims", 0))
	w, err := c.constant(param(head.DenseKernel))
	if err != nil {
		return "", err
	}
	b, err := c.constant(param(head.DenseBias))
	if err != nil {
		return "", err
	}
	x = c.node("Add", []string{c.node("MatMul", []string{x, w}), b})
	return c.node("Softmax", []string{x}, intAttr("axis", 1)), nil
}

// resolvedShape is a Reshape node's target as convReshape reads it, for
// looking ahead; nil when it is not a constant.
func (c *converter) resolvedShape(n *ndpb.NodeDef) []int64 {
	if len(n.GetInput()) != 2 {
		return nil
	}
	s := c.st[normRef(n.GetInput()[1])]
	if s.Value == nil {
		return nil
	}
	return intsOf(s.Value)
}

// pointwiseDense converts Keras's Dense on an image tensor, which
// TensorFlow writes as Tensordot (Reshape to [N*H*W, C], MatMul by the
// kernel, Reshape to [N, H, W, C']), into one 1x1 Conv on the NCHW tensor,
// with no Transpose. It reports whether the pattern was there; the
// MatMul and the second Reshape are then done.
func (c *converter) pointwiseDense(x *onnxValueRef, target []int64) (bool, error) {
	if x.konst != nil || !x.nchw || len(x.shape) != 4 || len(target) != 2 || target[1] != int64(x.shape[3]) || x.shape[1] < 0 || x.shape[2] < 0 {
		return false, nil
	}
	only := func(ref string) *ndpb.NodeDef {
		if u := c.users[ref]; len(u) == 1 {
			return u[0]
		}
		return nil
	}
	mm := only(c.n.GetName() + ":0")
	if mm == nil || mm.GetOp() != "MatMul" || normRef(mm.GetInput()[0]) != c.n.GetName()+":0" || mm.GetAttr()["transpose_a"].GetB() {
		return false, nil
	}
	k := c.st[normRef(mm.GetInput()[1])].Value
	back := only(mm.GetName() + ":0")
	if k == nil || k.DType != tensor.Float32 || len(k.Shape) != 2 || back == nil || back.GetOp() != "Reshape" || c.st[back.GetName()+":0"].Value != nil {
		return false, nil
	}
	if mm.GetAttr()["transpose_b"].GetB() {
		k = transpose(k, []int64{1, 0})
	}
	out := c.st[back.GetName()+":0"].Shape
	if len(out) != 4 || out[1] != x.shape[1] || out[2] != x.shape[2] || out[3] != k.Shape[1] || k.Shape[0] != x.shape[3] {
		return false, nil
	}
	w := transpose(k, []int64{1, 0}) // [C', C] -> [C', C, 1, 1]
	w.Shape = []int{k.Shape[1], k.Shape[0], 1, 1}
	wn, err := c.constant(w)
	if err != nil {
		return true, err
	}
	y := c.node("Conv", []string{x.name, wn}, intsAttr("kernel_shape", 1, 1))
	c.vals[back.GetName()+":0"] = &onnxValueRef{name: y, nchw: true, shape: out}
	c.skip[mm.GetName()], c.skip[back.GetName()] = true, true
	return true, nil
}
