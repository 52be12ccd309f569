package export

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// The ONNX protobuf, encoded by hand from the field numbers of onnx.proto
// (github.com/onnx/onnx, onnx/onnx.proto) so that graft needs no generated
// code: only the messages and fields an inference graph uses.

// ONNX TensorProto.DataType values.
const (
	onnxFloat = 1
	onnxInt32 = 6
	onnxInt64 = 7
)

// ONNX AttributeProto.AttributeType values.
const (
	attrFloat  = 1
	attrInt    = 2
	attrString = 3
	attrInts   = 7
)

const (
	onnxIRVersion = 8 // the IR version of opset 17 (ONNX 1.12)
	onnxOpset     = 17
)

// onnxTensor is an initializer: float32 or int64 data, little-endian raw.
type onnxTensor struct {
	name string
	dims []int64
	f32  []float32
	i64  []int64
	i32  bool // encode i64 as int32 (Cast targets of TF int32 values)
}

func (t *onnxTensor) dtype() uint64 {
	switch {
	case t.f32 != nil:
		return onnxFloat
	case t.i32:
		return onnxInt32
	}
	return onnxInt64
}

func (t *onnxTensor) encode() []byte {
	var b []byte
	for _, d := range t.dims {
		b = protowire.AppendTag(b, 1, protowire.VarintType) // dims
		b = protowire.AppendVarint(b, uint64(d))
	}
	b = protowire.AppendTag(b, 2, protowire.VarintType) // data_type
	b = protowire.AppendVarint(b, t.dtype())
	b = appendString(b, 8, t.name)
	var raw []byte
	switch {
	case t.f32 != nil:
		raw = make([]byte, 0, 4*len(t.f32))
		for _, v := range t.f32 {
			raw = binary.LittleEndian.AppendUint32(raw, math.Float32bits(v))
		}
	case t.i32:
		for _, v := range t.i64 {
			raw = binary.LittleEndian.AppendUint32(raw, uint32(int32(v)))
		}
	default:
		for _, v := range t.i64 {
			raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
		}
	}
	b = protowire.AppendTag(b, 9, protowire.BytesType) // raw_data
	return protowire.AppendBytes(b, raw)
}

// onnxAttr is one node attribute.
type onnxAttr struct {
	name string
	typ  uint64
	f    float32
	i    int64
	s    string
	ints []int64
}

func (a onnxAttr) encode() []byte {
	b := appendString(nil, 1, a.name)
	b = protowire.AppendTag(b, 20, protowire.VarintType) // type
	b = protowire.AppendVarint(b, a.typ)
	switch a.typ {
	case attrFloat:
		b = protowire.AppendTag(b, 2, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrInt:
		b = protowire.AppendTag(b, 3, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(a.i))
	case attrString:
		b = appendString(b, 4, a.s)
	case attrInts:
		for _, v := range a.ints {
			b = protowire.AppendTag(b, 8, protowire.VarintType)
			b = protowire.AppendVarint(b, uint64(v))
		}
	}
	return b
}

func intAttr(name string, v int64) onnxAttr     { return onnxAttr{name: name, typ: attrInt, i: v} }
func floatAttr(name string, v float32) onnxAttr { return onnxAttr{name: name, typ: attrFloat, f: v} }
func intsAttr(name string, v ...int64) onnxAttr { return onnxAttr{name: name, typ: attrInts, ints: v} }
func stringAttr(name string, v string) onnxAttr { return onnxAttr{name: name, typ: attrString, s: v} }
func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

type onnxNode struct {
	name, op string
	in, out  []string
	attrs    []onnxAttr
}

func (n *onnxNode) encode() []byte {
	var b []byte
	for _, s := range n.in {
		b = appendString(b, 1, s)
	}
	for _, s := range n.out {
		b = appendString(b, 2, s)
	}
	b = appendString(b, 3, n.name)
	b = appendString(b, 4, n.op)
	for _, a := range n.attrs {
		b = protowire.AppendTag(b, 5, protowire.BytesType)
		b = protowire.AppendBytes(b, a.encode())
	}
	return b
}

// onnxValue is a graph input or output: a tensor type with its shape, a
// dim < 0 written as the symbolic dim param.
type onnxValue struct {
	name  string
	elem  uint64
	dims  []int64
	param string
}

func (v onnxValue) encode() []byte {
	var shape []byte
	for _, d := range v.dims {
		var dim []byte
		if d < 0 {
			dim = appendString(nil, 2, v.param) // dim_param
		} else {
			dim = protowire.AppendTag(nil, 1, protowire.VarintType) // dim_value
			dim = protowire.AppendVarint(dim, uint64(d))
		}
		shape = protowire.AppendTag(shape, 1, protowire.BytesType)
		shape = protowire.AppendBytes(shape, dim)
	}
	tt := protowire.AppendTag(nil, 1, protowire.VarintType) // elem_type
	tt = protowire.AppendVarint(tt, v.elem)
	tt = protowire.AppendTag(tt, 2, protowire.BytesType) // shape
	tt = protowire.AppendBytes(tt, shape)
	typ := protowire.AppendTag(nil, 1, protowire.BytesType) // tensor_type
	typ = protowire.AppendBytes(typ, tt)
	b := appendString(nil, 1, v.name)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendBytes(b, typ)
}

// onnxModel is a whole model: one graph, opset 17 of the default domain,
// and string metadata.
type onnxModel struct {
	graph    string
	nodes    []*onnxNode
	inits    []*onnxTensor
	inputs   []onnxValue
	outputs  []onnxValue
	metadata [][2]string
	producer string
}

func (m *onnxModel) encode() []byte {
	var g []byte
	for _, n := range m.nodes {
		g = protowire.AppendTag(g, 1, protowire.BytesType)
		g = protowire.AppendBytes(g, n.encode())
	}
	g = appendString(g, 2, m.graph)
	for _, t := range m.inits {
		g = protowire.AppendTag(g, 5, protowire.BytesType)
		g = protowire.AppendBytes(g, t.encode())
	}
	for _, v := range m.inputs {
		g = protowire.AppendTag(g, 11, protowire.BytesType)
		g = protowire.AppendBytes(g, v.encode())
	}
	for _, v := range m.outputs {
		g = protowire.AppendTag(g, 12, protowire.BytesType)
		g = protowire.AppendBytes(g, v.encode())
	}
	b := protowire.AppendTag(nil, 1, protowire.VarintType) // ir_version
	b = protowire.AppendVarint(b, onnxIRVersion)
	b = appendString(b, 2, m.producer)
	opset := appendString(nil, 1, "") // ai.onnx, the default domain
	opset = protowire.AppendTag(opset, 2, protowire.VarintType)
	opset = protowire.AppendVarint(opset, onnxOpset)
	b = protowire.AppendTag(b, 8, protowire.BytesType)
	b = protowire.AppendBytes(b, opset)
	b = protowire.AppendTag(b, 7, protowire.BytesType) // graph
	b = protowire.AppendBytes(b, g)
	for _, kv := range m.metadata {
		e := appendString(appendString(nil, 1, kv[0]), 2, kv[1])
		b = protowire.AppendTag(b, 14, protowire.BytesType) // metadata_props
		b = protowire.AppendBytes(b, e)
	}
	return b
}
