package tflite

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	avpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/attr_value_go_proto"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// ErrUnsupported reports a graph the converter cannot write: an op with
// no TFLite mapping, or an attribute or input it does not handle.
var ErrUnsupported = errors.New("tflite: cannot convert")

// Port names one graph tensor in the model's signature: Ref is a
// placeholder's name (an input) or "node:i" (an output).
type Port struct{ Ref, Name string }

// Metadata is one Model.metadata entry, stored in its own buffer.
type Metadata struct {
	Name string
	Data []byte
}

// Options say what the model's signature holds and how to store weights.
type Options struct {
	Inputs, Outputs []Port
	// InputShapes are the placeholders' shapes, -1 for the batch.
	InputShapes map[string][]int
	Metadata    []Metadata
	Description string
	// Top1, when set, names one more output: the int32 index of the
	// largest value along the last axis of the first output.
	Top1 string
	// Float16 stores float32 constants as float16, each with a DEQUANTIZE
	// op in front.
	Float16 bool
}

// Convert writes g as a TFLite flatbuffer.
func Convert(g *savedmodel.Graph, o Options) ([]byte, error) {
	nodes, err := native.Static(g, o.InputShapes)
	if err != nil {
		return nil, err
	}
	c := &converter{info: map[string]native.StaticTensor{}, act: map[string]int32{}, consts: map[string]int32{}, f16: o.Float16,
		readers: map[string][]*native.StaticNode{}, fused: map[string]int32{}}
	c.m.buffers = [][]byte{nil}
	c.m.description = o.Description
	for i := range nodes {
		n := &nodes[i]
		for j, t := range n.Outputs {
			c.info[ref(n.Def.GetName(), j)] = t
		}
		for _, r := range n.Inputs {
			c.readers[r] = append(c.readers[r], n)
		}
	}
	for _, p := range o.Outputs {
		c.readers[p.Ref] = append(c.readers[p.Ref], nil) // read from outside
	}
	inputs := map[string]bool{}
	for _, p := range o.Inputs {
		inputs[p.Ref] = true
	}
	for i := range nodes {
		n := &nodes[i]
		if n.Def.GetOp() == "Placeholder" {
			if !inputs[n.Def.GetName()] {
				return nil, fmt.Errorf("%w: the graph reads placeholder %q, which is not an input", ErrUnsupported, n.Def.GetName())
			}
			c.output(n, 0)
			continue
		}
		if c.constant(n) {
			continue // written where an op reads it
		}
		if t, ok := c.fused[n.Def.GetName()]; ok {
			c.act[ref(n.Def.GetName(), 0)] = t // computed by the op it was fused into
			continue
		}
		f, ok := mappings[n.Def.GetOp()]
		if !ok {
			return nil, fmt.Errorf("%w: op %s (node %q) has no TFLite mapping in graft; cut the backbone before it (--tap) or ask for the op", ErrUnsupported, n.Def.GetOp(), n.Def.GetName())
		}
		if err := f(c, n); err != nil {
			return nil, fmt.Errorf("node %q (%s): %w", n.Def.GetName(), n.Def.GetOp(), err)
		}
	}
	for _, p := range o.Inputs {
		c.m.inputs = append(c.m.inputs, c.act[ref(p.Ref, 0)])
		c.m.inNames = append(c.m.inNames, p.Name)
	}
	for _, p := range o.Outputs {
		t, ok := c.act[p.Ref]
		if !ok {
			return nil, fmt.Errorf("%w: output %q is not computed by an op (a constant, or missing)", ErrUnsupported, p.Ref)
		}
		c.m.outputs = append(c.m.outputs, t)
		c.m.outNames = append(c.m.outNames, p.Name)
	}
	if o.Top1 != "" && len(o.Outputs) > 0 {
		shape := c.info[o.Outputs[0].Ref].Shape
		axis, err := c.ints(o.Top1+"/axis", int32(len(shape)-1))
		if err != nil {
			return nil, err
		}
		top := c.addTensor(o.Top1, ttInt32, shape[:len(shape)-1], 0)
		c.op(opArgMax, []int32{c.m.outputs[0], axis}, []int32{top}, optArgMax, oByte(0, ttInt32))
		c.m.outputs = append(c.m.outputs, top)
		c.m.outNames = append(c.m.outNames, o.Top1)
	}
	for _, md := range o.Metadata {
		c.m.metadata = append(c.m.metadata, metadataT{name: md.Name, buffer: c.m.addBuffer(md.Data)})
	}
	return c.m.bytes(), nil
}

func ref(node string, out int) string { return fmt.Sprintf("%s:%d", node, out) }

type converter struct {
	m    model
	info map[string]native.StaticTensor
	// act holds the tensor of each computed graph tensor, consts the
	// constant tensors written so far, by key.
	act    map[string]int32
	consts map[string]int32
	f16    bool
	n      int // ops so far, for unique names of helper tensors
	// readers lists the nodes that read each graph tensor (nil: a model
	// output); fused maps the nodes folded into an earlier op to the
	// tensor that op writes.
	readers map[string][]*native.StaticNode
	fused   map[string]int32
}

// epilogue is what may be fused into the op computing n's output 0 (co
// channels): the op's outputs are multiplied by scale and added bias,
// then act applies; chain lists the nodes fused, in order.
type epilogue struct {
	scale, bias []float32
	act         int8
	chain       []*native.StaticNode
}

// fusable finds the epilogue after n, each step read only from the step
// before: any run of adds, subtractions and multiplications by a
// constant [co] (or one-element) vector and of inference batch norms (an
// affine map per channel, which Keras's layers write all of), then a
// Relu or Relu6.
func (c *converter) fusable(n *native.StaticNode, co int) epilogue {
	e := epilogue{scale: make([]float32, co), bias: make([]float32, co)}
	for i := range e.scale {
		e.scale[i] = 1
	}
	last := n
	only := func() *native.StaticNode { // the one reader of last's output 0
		for j := 1; j < len(last.Outputs); j++ {
			if len(c.readers[ref(last.Def.GetName(), j)]) > 0 {
				return nil
			}
		}
		rs := c.readers[ref(last.Def.GetName(), 0)]
		if len(rs) != 1 || rs[0] == nil {
			return nil
		}
		return rs[0]
	}
	vector := func(r string) []float32 { // a constant per-channel vector
		v := c.info[r].Value
		if v == nil || v.DType != tensor.Float32 || len(v.Shape) > 4 || (len(v.F32) != co && len(v.F32) != 1) ||
			(len(v.Shape) > 0 && v.Shape[len(v.Shape)-1] != len(v.F32)) {
			return nil // not per channel: [co], [1,1,1,co], or one value
		}
		if len(v.F32) == co {
			return v.F32
		}
		w := make([]float32, co)
		for i := range w {
			w[i] = v.F32[0]
		}
		return w
	}
	for {
		r := only()
		if r == nil {
			break
		}
		x := ref(last.Def.GetName(), 0)
		first := len(r.Inputs) > 0 && r.Inputs[0] == x
		var other []float32
		if len(r.Inputs) == 2 {
			if first {
				other = vector(r.Inputs[1])
			} else {
				other = vector(r.Inputs[0])
			}
		}
		switch op := r.Def.GetOp(); {
		case other != nil && (op == "Add" || op == "AddV2" || (first && (op == "BiasAdd" || op == "BiasAddV1"))):
			for i := range e.bias {
				e.bias[i] += other[i]
			}
		case other != nil && first && op == "Sub":
			for i := range e.bias {
				e.bias[i] -= other[i]
			}
		case other != nil && op == "Mul":
			for i := range e.bias {
				e.scale[i] *= other[i]
				e.bias[i] *= other[i]
			}
		case first && strings.HasPrefix(op, "FusedBatchNorm"):
			s, o, err := c.batchNormFold(r)
			if err != nil || len(s) != co {
				return e.activation(only, &last)
			}
			for i := range e.bias {
				e.scale[i] *= s[i]
				e.bias[i] = e.bias[i]*s[i] + o[i]
			}
		default:
			return e.activation(only, &last)
		}
		e.chain, last = append(e.chain, r), r
	}
	return e
}

// activation adds a Relu or Relu6 reading last to the epilogue.
func (e epilogue) activation(only func() *native.StaticNode, last **native.StaticNode) epilogue {
	r := only()
	if r == nil {
		return e
	}
	switch r.Def.GetOp() {
	case "Relu":
		e.act = activationRelu
	case "Relu6":
		e.act = activationRelu6
	default:
		return e
	}
	e.chain, *last = append(e.chain, r), r
	return e
}

// fusedOutput makes the tensor an op with the epilogue chain writes: the
// last fused node's output, which the fused nodes then stand for.
func (c *converter) fusedOutput(n *native.StaticNode, chain []*native.StaticNode) (int32, error) {
	if len(chain) == 0 {
		return c.output(n, 0)
	}
	t, err := c.output(chain[len(chain)-1], 0)
	for _, m := range chain {
		c.fused[m.Def.GetName()] = t
	}
	return t, err
}

// constant reports whether every output of n is a known value.
func (c *converter) constant(n *native.StaticNode) bool {
	for _, t := range n.Outputs {
		if t.Value == nil {
			return false
		}
	}
	return len(n.Outputs) > 0
}

func tflType(dt tensor.DType) (int8, error) {
	switch dt {
	case tensor.Float32:
		return ttFloat32, nil
	case tensor.Int32:
		return ttInt32, nil
	case tensor.Int64:
		return ttInt64, nil
	case tensor.Bool:
		return ttBool, nil
	}
	return 0, fmt.Errorf("%w: dtype %s", ErrUnsupported, dt)
}

func dims(shape []int) (concrete, signature []int32) {
	concrete = make([]int32, len(shape))
	dynamic := false
	for i, d := range shape {
		concrete[i] = int32(d)
		if d < 0 {
			concrete[i], dynamic = 1, true
		}
	}
	if dynamic {
		signature = make([]int32, len(shape))
		for i, d := range shape {
			signature[i] = int32(d)
		}
	}
	return concrete, signature
}

func (c *converter) addTensor(name string, dt int8, shape []int, buffer uint32) int32 {
	s, sig := dims(shape)
	c.m.tensors = append(c.m.tensors, tensorT{name: name, dtype: dt, shape: s, signature: sig, buffer: buffer})
	return int32(len(c.m.tensors) - 1)
}

// output makes the tensor of n's output j.
func (c *converter) output(n *native.StaticNode, j int) (int32, error) {
	r := ref(n.Def.GetName(), j)
	t := c.info[r]
	dt, err := tflType(t.DType)
	if err != nil {
		return 0, err
	}
	name := n.Def.GetName()
	if j > 0 {
		name = r
	}
	idx := c.addTensor(name, dt, t.Shape, 0)
	c.act[r] = idx
	return idx, nil
}

// temp makes an intermediate float32 tensor of the given shape.
func (c *converter) temp(name string, shape []int) int32 {
	c.n++
	return c.addTensor(fmt.Sprintf("%s/%d", name, c.n), ttFloat32, shape, 0)
}

// in is the tensor of a graph tensor an op reads: its constant, or the
// tensor of the op that computed it.
func (c *converter) in(r string) (int32, error) {
	if t := c.info[r].Value; t != nil {
		return c.constTensor(r, t)
	}
	if idx, ok := c.act[r]; ok {
		return idx, nil
	}
	return 0, fmt.Errorf("%w: input %s is not computed by a converted op", ErrUnsupported, r)
}

// index is in for the inputs TFLite wants as int32 (axes, shapes,
// paddings): a constant int64 is written as int32.
func (c *converter) index(r string) (int32, error) {
	t := c.info[r].Value
	if t == nil || t.DType != tensor.Int64 {
		return c.in(r)
	}
	v := tensor.New(tensor.Int32, t.Shape...)
	for i, x := range t.I64 {
		if x != int64(int32(x)) {
			return 0, fmt.Errorf("%w: %s holds %d, beyond int32", ErrUnsupported, r, x)
		}
		v.I32[i] = int32(x)
	}
	return c.constTensor(r+"/int32", v)
}

// constTensor writes t once per key; with Float16 a float32 constant is
// stored as float16 and read through a DEQUANTIZE op.
func (c *converter) constTensor(key string, t *tensor.Tensor) (int32, error) {
	if idx, ok := c.consts[key]; ok {
		return idx, nil
	}
	var data []byte
	dt, err := tflType(t.DType)
	if err != nil {
		return 0, fmt.Errorf("constant %s: %w", key, err)
	}
	le := binary.LittleEndian
	half := c.f16 && dt == ttFloat32
	switch {
	case half:
		data = make([]byte, 2*len(t.F32))
		for i, v := range t.F32 {
			le.PutUint16(data[2*i:], savedmodel.FloatToHalf(v))
		}
	case dt == ttFloat32:
		data = make([]byte, 4*len(t.F32))
		for i, v := range t.F32 {
			le.PutUint32(data[4*i:], math.Float32bits(v))
		}
	case dt == ttInt32:
		data = make([]byte, 4*len(t.I32))
		for i, v := range t.I32 {
			le.PutUint32(data[4*i:], uint32(v))
		}
	case dt == ttInt64:
		data = make([]byte, 8*len(t.I64))
		for i, v := range t.I64 {
			le.PutUint64(data[8*i:], uint64(v))
		}
	case dt == ttBool:
		data = make([]byte, len(t.B))
		for i, v := range t.B {
			if v {
				data[i] = 1
			}
		}
	}
	var idx int32
	if half {
		h := c.addTensor(key+"/float16", ttFloat16, t.Shape, c.m.addBuffer(data))
		idx = c.addTensor(key, ttFloat32, t.Shape, 0)
		c.op(opDequantize, []int32{h}, []int32{idx}, optNone)
	} else {
		idx = c.addTensor(key, dt, t.Shape, c.m.addBuffer(data))
	}
	c.consts[key] = idx
	return idx, nil
}

// floats is a float32 constant of the given shape, written under key.
func (c *converter) floats(key string, v []float32, shape ...int) (int32, error) {
	t, err := tensor.FromFloat32(v, shape...)
	if err != nil {
		return 0, err
	}
	return c.constTensor(key, t)
}

func (c *converter) ints(key string, v ...int32) (int32, error) {
	t := tensor.New(tensor.Int32, len(v))
	copy(t.I32, v)
	return c.constTensor(key, t)
}

func (c *converter) op(code int32, in, out []int32, optType byte, opts ...option) *operatorT {
	c.m.ops = append(c.m.ops, operatorT{code: code, inputs: in, outputs: out, optType: optType, opts: opts})
	return &c.m.ops[len(c.m.ops)-1]
}

// value is the known value of n's input j, or nil.
func (c *converter) value(n *native.StaticNode, j int) *tensor.Tensor {
	if j >= len(n.Inputs) {
		return nil
	}
	return c.info[n.Inputs[j]].Value
}

// Attribute readers.
func attr(n *native.StaticNode, k string) *avpb.AttrValue { return n.Def.GetAttr()[k] }
func attrS(n *native.StaticNode, k string) string         { return string(attr(n, k).GetS()) }
func attrI(n *native.StaticNode, k string) int64          { return attr(n, k).GetI() }
func attrB(n *native.StaticNode, k string) bool           { return attr(n, k).GetB() }
func attrF(n *native.StaticNode, k string) float32        { return attr(n, k).GetF() }
func attrInts(n *native.StaticNode, k string) []int64     { return attr(n, k).GetList().GetI() }

// axisValue reads a constant scalar or one-element axis input,
// normalised against rank.
func axisValue(t *tensor.Tensor, rank int) (int, error) {
	if t == nil || tensor.NumElements(t.Shape) != 1 {
		return 0, fmt.Errorf("%w: the axis is not a constant scalar", ErrUnsupported)
	}
	var a int
	switch t.DType {
	case tensor.Int32:
		a = int(t.I32[0])
	case tensor.Int64:
		a = int(t.I64[0])
	default:
		return 0, fmt.Errorf("%w: axis of dtype %s", ErrUnsupported, t.DType)
	}
	if a < 0 {
		a += rank
	}
	return a, nil
}
