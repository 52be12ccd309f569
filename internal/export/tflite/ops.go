package tflite

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
)

// mapping writes one TensorFlow node as TFLite ops.
type mapping func(c *converter, n *native.StaticNode) error

// mappings covers the native engine's ops that a backbone computes with
// (its shape-only ops fold to constants where the batch does not matter).
var mappings = map[string]mapping{}

func init() {
	for _, op := range []string{"Identity", "StopGradient", "Snapshot", "IdentityN", "PreventGradient"} {
		mappings[op] = alias
	}
	for op, code := range map[string]int32{
		"Relu": opRelu, "Relu6": opRelu6, "Sigmoid": opLogistic, "Tanh": opTanh, "Exp": opExp, "Log": opLog,
		"Sqrt": opSqrt, "Rsqrt": opRsqrt, "Abs": opAbs, "Neg": opNeg, "Square": opSquare, "Floor": opFloor, "Elu": opElu,
	} {
		mappings[op] = simple(code, optNone)
	}
	for op, code := range map[string]int32{
		"Add": opAdd, "AddV2": opAdd, "BiasAdd": opAdd, "BiasAddV1": opAdd, "Sub": opSub, "Mul": opMul,
		"RealDiv": opDiv, "Div": opDiv, "FloorDiv": opFloorDiv, "Maximum": opMaximum, "Minimum": opMinimum,
		"SquaredDifference": opSquaredDiff, "Pow": opPow, "AddN": opAddN, "Fill": opFill,
		"Slice": opSlice, "ExpandDims": opExpandDims, "Range": opRange, "PadV2": opPadV2, "Pad": opPad,
		"Reshape": opReshape, "Transpose": opTranspose,
	} {
		mappings[op] = simple(code, optNone)
	}
	mappings["Pack"] = pack
	mappings["Softmax"] = func(c *converter, n *native.StaticNode) error {
		return c.emit(n, opSoftmax, n.Inputs, optSoftmax, oFloat(0, 1))
	}
	mappings["LeakyRelu"] = func(c *converter, n *native.StaticNode) error {
		return c.emit(n, opLeakyRelu, n.Inputs, optLeakyRelu, oFloat(0, attrF(n, "alpha")))
	}
	for op, code := range map[string]int32{"Mean": opMean, "Sum": opSum, "Max": opReduceMax, "Min": opReduceMin, "Prod": opReduceProd} {
		code := code
		mappings[op] = func(c *converter, n *native.StaticNode) error {
			return c.emit(n, code, n.Inputs, optReducer, oBool(0, attrB(n, "keep_dims")))
		}
	}
	mappings["Conv2D"] = conv2D
	mappings["DepthwiseConv2dNative"] = conv2D
	mappings["MaxPool"] = pool(opMaxPool)
	mappings["AvgPool"] = pool(opAvgPool)
	mappings["MatMul"] = matMul
	for _, op := range []string{"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"} {
		mappings[op] = func(c *converter, n *native.StaticNode) error {
			return c.emit(n, opBatchMatMul, n.Inputs, optBatchMatMul, oBool(0, attrB(n, "adj_x")), oBool(1, attrB(n, "adj_y")))
		}
	}
	for _, op := range []string{"FusedBatchNorm", "FusedBatchNormV2", "FusedBatchNormV3"} {
		mappings[op] = batchNorm
	}
	mappings["ConcatV2"] = concat
	mappings["Concat"] = concat
	mappings["Shape"] = func(c *converter, n *native.StaticNode) error {
		dt, err := tflType(c.info[ref(n.Def.GetName(), 0)].DType)
		if err != nil {
			return err
		}
		return c.emit(n, opShape, n.Inputs, optShape, oByte(0, int32(dt)))
	}
	mappings["StridedSlice"] = func(c *converter, n *native.StaticNode) error {
		var o []option
		for i, k := range []string{"begin_mask", "end_mask", "ellipsis_mask", "new_axis_mask", "shrink_axis_mask"} {
			o = append(o, oInt(i, int32(attrI(n, k))))
		}
		return c.emit(n, opStridedSlice, n.Inputs, optStridedSlice, o...)
	}
	mappings["Squeeze"] = squeeze
	mappings["GatherV2"] = func(c *converter, n *native.StaticNode) error {
		axis, err := axisValue(c.value(n, 2), len(c.info[n.Inputs[0]].Shape))
		if err != nil {
			return err
		}
		return c.emit(n, opGather, n.Inputs[:2], optGather, oInt(0, int32(axis)), oInt(1, int32(attrI(n, "batch_dims"))))
	}
	mappings["Cast"] = func(c *converter, n *native.StaticNode) error {
		from, err := tflType(c.info[n.Inputs[0]].DType)
		if err != nil {
			return err
		}
		to, err := tflType(c.info[ref(n.Def.GetName(), 0)].DType)
		if err != nil {
			return err
		}
		return c.emit(n, opCast, n.Inputs, optCast, oByte(0, int32(from)), oByte(1, int32(to)))
	}
	mappings["ArgMax"] = func(c *converter, n *native.StaticNode) error {
		dt, err := tflType(c.info[ref(n.Def.GetName(), 0)].DType)
		if err != nil {
			return err
		}
		return c.emit(n, opArgMax, n.Inputs, optArgMax, oByte(0, int32(dt)))
	}
	mappings["Erfc"] = erfc(false)
	mappings["Erf"] = erfc(true)
	mappings["Reciprocal"] = func(c *converter, n *native.StaticNode) error {
		one, err := c.floats(n.Def.GetName()+"/one", []float32{1})
		if err != nil {
			return err
		}
		x, err := c.in(n.Inputs[0])
		if err != nil {
			return err
		}
		out, err := c.output(n, 0)
		if err != nil {
			return err
		}
		c.op(opDiv, []int32{one, x}, []int32{out}, optNone)
		return nil
	}
}

// indexInputs are, per TFLite op, the inputs it wants as int32.
var indexInputs = map[int32][]int{
	opReshape: {1}, opTranspose: {1}, opPad: {1}, opPadV2: {1}, opMean: {1}, opSum: {1}, opReduceMax: {1},
	opReduceMin: {1}, opReduceProd: {1}, opStridedSlice: {1, 2, 3}, opSlice: {1, 2}, opExpandDims: {1},
	opArgMax: {1}, opGather: {1}, opFill: {0},
}

// emit writes n as one op over its inputs, its first output the op's.
func (c *converter) emit(n *native.StaticNode, code int32, inputs []string, optType byte, opts ...option) error {
	idx := map[int]bool{}
	for _, j := range indexInputs[code] {
		idx[j] = true
	}
	in := make([]int32, len(inputs))
	for j, r := range inputs {
		var err error
		if idx[j] {
			in[j], err = c.index(r)
		} else {
			in[j], err = c.in(r)
		}
		if err != nil {
			return err
		}
	}
	out, err := c.output(n, 0)
	if err != nil {
		return err
	}
	c.op(code, in, []int32{out}, optType, opts...)
	return nil
}

func simple(code int32, optType byte) mapping {
	return func(c *converter, n *native.StaticNode) error { return c.emit(n, code, n.Inputs, optType) }
}

// alias passes each output through as its input: no op.
func alias(c *converter, n *native.StaticNode) error {
	for j, r := range n.Inputs {
		if c.info[ref(n.Def.GetName(), j)].Value != nil {
			continue
		}
		t, err := c.in(r)
		if err != nil {
			return err
		}
		c.act[ref(n.Def.GetName(), j)] = t
	}
	return nil
}

func rankOf(c *converter, n *native.StaticNode) int {
	return len(c.info[ref(n.Def.GetName(), 0)].Shape)
}

func pack(c *converter, n *native.StaticNode) error {
	axis := int(attrI(n, "axis"))
	if axis < 0 {
		axis += rankOf(c, n)
	}
	return c.emit(n, opPack, n.Inputs, optPack, oInt(0, int32(len(n.Inputs))), oInt(1, int32(axis)))
}

func concat(c *converter, n *native.StaticNode) error {
	data, axisIn := n.Inputs[:len(n.Inputs)-1], len(n.Inputs)-1
	if n.Def.GetOp() == "Concat" {
		data, axisIn = n.Inputs[1:], 0
	}
	axis, err := axisValue(c.value(n, axisIn), rankOf(c, n))
	if err != nil {
		return err
	}
	return c.emit(n, opConcat, data, optConcat, oInt(0, int32(axis)), oByte(1, activationNone))
}

func squeeze(c *converter, n *native.StaticNode) error {
	in := c.info[n.Inputs[0]].Shape
	var axes []int32
	for _, a := range attrInts(n, "squeeze_dims") {
		if a < 0 {
			a += int64(len(in))
		}
		axes = append(axes, int32(a))
	}
	if len(axes) == 0 { // every dim of size 1, as known now: a batch of 1 stays
		for i, d := range in {
			if d == 1 {
				axes = append(axes, int32(i))
			}
		}
	}
	if err := c.emit(n, opSqueeze, n.Inputs, optSqueeze); err != nil {
		return err
	}
	op := &c.m.ops[len(c.m.ops)-1]
	op.vecSlot, op.vec = 0, append([]int32{}, axes...)
	return nil
}

// window reads the NHWC strides, dilations or ksize attribute k as (h, w).
func window(n *native.StaticNode, k string) (h, w int32, err error) {
	v := attrInts(n, k)
	if len(v) == 0 {
		return 1, 1, nil
	}
	if len(v) != 4 || v[0] != 1 || v[3] != 1 {
		return 0, 0, fmt.Errorf("%w: %s %v (only the spatial dims may differ from 1)", ErrUnsupported, k, v)
	}
	return int32(v[1]), int32(v[2]), nil
}

// padding reads the node's padding; EXPLICIT padding is written as a PAD
// op in front of x, and the op then pads VALID.
// windowed is a convolution's or pooling's input, its padding (explicit
// padding becomes a PAD in front) and its strides.
func (c *converter) windowed(n *native.StaticNode) (x, pad, sh, sw int32, err error) {
	if x, err = c.in(n.Inputs[0]); err != nil {
		return
	}
	if x, pad, err = c.padding(n, x); err != nil {
		return
	}
	sh, sw, err = window(n, "strides")
	return
}

func (c *converter) padding(n *native.StaticNode, x int32) (int32, int32, error) {
	if f := attrS(n, "data_format"); f != "" && f != "NHWC" {
		return 0, 0, fmt.Errorf("%w: data_format %s (TFLite is NHWC)", ErrUnsupported, f)
	}
	switch p := attrS(n, "padding"); p {
	case "SAME":
		return x, paddingSame, nil
	case "VALID":
		return x, paddingValid, nil
	case "EXPLICIT":
		e := attrInts(n, "explicit_paddings")
		if len(e) != 8 {
			return 0, 0, fmt.Errorf("%w: explicit_paddings %v", ErrUnsupported, e)
		}
		v := make([]int32, 8)
		for i := range e {
			v[i] = int32(e[i])
		}
		pads, err := c.ints(n.Def.GetName()+"/paddings", v...)
		if err != nil {
			return 0, 0, err
		}
		in := c.info[n.Inputs[0]].Shape
		shape := append([]int(nil), in...)
		for i := range shape {
			if shape[i] >= 0 {
				shape[i] += int(v[2*i] + v[2*i+1])
			}
		}
		out := c.temp(n.Def.GetName()+"/pad", shape)
		c.op(opPad, []int32{x, pads}, []int32{out}, optNone)
		return out, paddingValid, nil
	}
	return 0, 0, fmt.Errorf("%w: padding %q", ErrUnsupported, attrS(n, "padding"))
}

// conv2D writes Conv2D (filter HWIO -> OHWI) and DepthwiseConv2dNative
// (filter HWCM -> 1,H,W,C*M, the same bytes), with the bias add and the
// Relu or Relu6 that follow fused in (epilogue), a zero bias when none.
func conv2D(c *converter, n *native.StaticNode) error {
	f := c.value(n, 1)
	if f == nil || f.DType != tensor.Float32 || len(f.Shape) != 4 {
		return fmt.Errorf("%w: the filter is not a constant float32 HWIO tensor", ErrUnsupported)
	}
	x, pad, sh, sw, err := c.windowed(n)
	if err != nil {
		return err
	}
	dh, dw, err := window(n, "dilations")
	if err != nil {
		return err
	}
	kh, kw, ci, co := f.Shape[0], f.Shape[1], f.Shape[2], f.Shape[3]
	name := n.Def.GetName()
	depthwise, mult := n.Def.GetOp() == "DepthwiseConv2dNative", co
	in := c.info[n.Inputs[0]].Shape
	if !depthwise && len(in) == 4 && in[3] > 0 && in[3] != ci {
		// A grouped convolution with one input channel per group is a
		// depthwise one (Keras 3 writes ConvNeXt's so): output o reads
		// input o / (co/C), as DEPTHWISE_CONV_2D's channel c*M+m reads c.
		if ci != 1 || co%in[3] != 0 {
			return fmt.Errorf("%w: a grouped convolution (%d input channels, filter %v)", ErrUnsupported, in[3], f.Shape)
		}
		depthwise, ci, mult = true, 1, co/in[3]
	}
	// The filter as TFLite lays it out, output channel outer (OHWI) or,
	// depthwise, inner ([1,H,W,C*M] and [H,W,1,O] are TensorFlow's bytes).
	var data []float32
	var shape []int
	if depthwise {
		co *= ci
		data, shape = append([]float32(nil), f.F32...), []int{1, kh, kw, co}
	} else {
		data, shape = make([]float32, len(f.F32)), []int{co, kh, kw, ci}
		for h := 0; h < kh; h++ {
			for w := 0; w < kw; w++ {
				for i := 0; i < ci; i++ {
					for o := 0; o < co; o++ {
						data[((o*kh+h)*kw+w)*ci+i] = f.F32[((h*kw+w)*ci+i)*co+o]
					}
				}
			}
		}
	}
	e := c.fusable(n, co)
	for i := range data {
		if depthwise {
			data[i] *= e.scale[i%co]
		} else {
			data[i] *= e.scale[i/(len(data)/co)]
		}
	}
	filter, err := c.floats(name+"/filter", data, shape...)
	if err != nil {
		return err
	}
	bias, err := c.floats(name+"/bias", e.bias, co)
	if err != nil {
		return err
	}
	out, err := c.fusedOutput(n, e.chain)
	if err != nil {
		return err
	}
	if depthwise {
		c.op(opDepthwise, []int32{x, filter, bias}, []int32{out}, optDepthwise,
			oByte(0, pad), oInt(1, sw), oInt(2, sh), oInt(3, int32(mult)), oByte(4, int32(e.act)), oInt(5, dw), oInt(6, dh))
		return nil
	}
	c.op(opConv, []int32{x, filter, bias}, []int32{out}, optConv,
		oByte(0, pad), oInt(1, sw), oInt(2, sh), oByte(3, int32(e.act)), oInt(4, dw), oInt(5, dh))
	return nil
}

func pool(code int32) mapping {
	return func(c *converter, n *native.StaticNode) error {
		x, pad, sh, sw, err := c.windowed(n)
		if err != nil {
			return err
		}
		kh, kw, err := window(n, "ksize")
		if err != nil {
			return err
		}
		out, err := c.output(n, 0)
		if err != nil {
			return err
		}
		c.op(code, []int32{x}, []int32{out}, optPool, oByte(0, pad), oInt(1, sw), oInt(2, sh), oInt(3, kw), oInt(4, kh), oByte(5, activationNone))
		return nil
	}
}

// matMul writes a MatMul by a constant as FULLY_CONNECTED (weights [out,
// in], bias and activation fused as for conv2D), any other as
// BATCH_MATMUL.
func matMul(c *converter, n *native.StaticNode) error {
	ta, tb := attrB(n, "transpose_a"), attrB(n, "transpose_b")
	w := c.value(n, 1)
	if w == nil || ta || w.DType != tensor.Float32 || len(w.Shape) != 2 {
		return c.emit(n, opBatchMatMul, n.Inputs, optBatchMatMul, oBool(0, ta), oBool(1, tb))
	}
	k, m := w.Shape[0], w.Shape[1]
	t := w.F32
	if !tb {
		t = make([]float32, len(w.F32))
		for i := 0; i < k; i++ {
			for j := 0; j < m; j++ {
				t[j*k+i] = w.F32[i*m+j]
			}
		}
		k, m = m, k
	}
	name := n.Def.GetName()
	e := c.fusable(n, k)
	t = append([]float32(nil), t...)
	for i := range t {
		t[i] *= e.scale[i/m]
	}
	weights, err := c.floats(name+"/weights", t, k, m)
	if err != nil {
		return err
	}
	bias, err := c.floats(name+"/bias", e.bias, k)
	if err != nil {
		return err
	}
	x, err := c.in(n.Inputs[0])
	if err != nil {
		return err
	}
	out, err := c.fusedOutput(n, e.chain)
	if err != nil {
		return err
	}
	c.op(opFullyConnected, []int32{x, weights, bias}, []int32{out}, optFC, oByte(0, int32(e.act)))
	return nil
}

// batchNormFold is an inference batch norm's per-channel scale s and
// offset o (y = x s + o), from its constant statistics.
func (c *converter) batchNormFold(n *native.StaticNode) (s, o []float32, err error) {
	if attrB(n, "is_training") {
		return nil, nil, fmt.Errorf("%w: a training-mode batch norm", ErrUnsupported)
	}
	if f := attrS(n, "data_format"); f != "" && f != "NHWC" {
		return nil, nil, fmt.Errorf("%w: data_format %s (TFLite is NHWC)", ErrUnsupported, f)
	}
	var p [4]*tensor.Tensor
	for i := range p {
		if p[i] = c.value(n, i+1); p[i] == nil || p[i].DType != tensor.Float32 {
			return nil, nil, fmt.Errorf("%w: the batch norm's scale, offset, mean and variance are not constant float32", ErrUnsupported)
		}
	}
	eps := float64(attrF(n, "epsilon"))
	scale, offset, mean, variance := p[0].F32, p[1].F32, p[2].F32, p[3].F32
	s, o = make([]float32, len(scale)), make([]float32, len(scale))
	for i := range scale {
		s[i] = float32(float64(scale[i]) / math.Sqrt(float64(variance[i])+eps))
		o[i] = float32(float64(offset[i]) - float64(mean[i])*float64(s[i]))
	}
	return s, o, nil
}

// batchNorm writes an inference batch norm that no op before it took in
// as x * s + o.
func batchNorm(c *converter, n *native.StaticNode) error {
	s, o, err := c.batchNormFold(n)
	if err != nil {
		return err
	}
	name := n.Def.GetName()
	st, err := c.floats(name+"/scale", s, len(s))
	if err != nil {
		return err
	}
	ot, err := c.floats(name+"/offset", o, len(o))
	if err != nil {
		return err
	}
	x, err := c.in(n.Inputs[0])
	if err != nil {
		return err
	}
	y := c.temp(name+"/scaled", c.info[n.Inputs[0]].Shape)
	out, err := c.output(n, 0)
	if err != nil {
		return err
	}
	c.op(opMul, []int32{x, st}, []int32{y}, optNone)
	c.op(opAdd, []int32{y, ot}, []int32{out}, optNone)
	return nil
}

// erfcCoeffs is the Chebyshev fit of erfc in Numerical Recipes (erfcc,
// fractional error under 1.2e-7 everywhere): with t = 1/(1+|z|/2),
// erfc(|z|) = t exp(-z² + P(t)), P's coefficients from t⁰ up.
var erfcCoeffs = []float32{-1.26551223, 1.00002368, 0.37409196, 0.09678418, -0.18628806,
	0.27886807, -1.13520398, 1.48851587, -0.82215223, 0.17087277}

// erfc writes erfc(z) (or erf(z) = 1 - erfc(z)) from TFLite's elementwise
// ops, which have neither: erfc(z) = 1 + sign(z) (erfc(|z|) - 1).
func erfc(erf bool) mapping {
	return func(c *converter, n *native.StaticNode) error {
		z, err := c.in(n.Inputs[0])
		if err != nil {
			return err
		}
		name, shape := n.Def.GetName(), c.info[n.Inputs[0]].Shape
		k := func(key string, v float32) (int32, error) { return c.floats(name+"/"+key, []float32{v}) }
		one, err := k("one", 1)
		if err != nil {
			return err
		}
		half, err := k("half", 0.5)
		if err != nil {
			return err
		}
		step := func(code int32, in ...int32) int32 {
			t := c.temp(name, shape)
			c.op(code, in, []int32{t}, optNone)
			return t
		}
		a := step(opAbs, z)
		t := step(opDiv, one, step(opAdd, step(opMul, a, half), one))
		last := len(erfcCoeffs) - 1
		p, err := k(fmt.Sprint("c", last), erfcCoeffs[last])
		if err != nil {
			return err
		}
		for i := last - 1; i >= 0; i-- {
			ci, err := k(fmt.Sprint("c", i), erfcCoeffs[i])
			if err != nil {
				return err
			}
			p = step(opAdd, step(opMul, p, t), ci)
		}
		pos := step(opMul, t, step(opExp, step(opSub, p, step(opSquare, z))))
		dev := step(opMul, step(opSign, z), step(opSub, pos, one)) // erfc(z) - 1
		out, err := c.output(n, 0)
		if err != nil {
			return err
		}
		if erf {
			c.op(opNeg, []int32{dev}, []int32{out}, optNone)
		} else {
			c.op(opAdd, []int32{dev, one}, []int32{out}, optNone)
		}
		return nil
	}
}
