package tflite

import (
	flatbuffers "github.com/google/flatbuffers/go"
)

// Builtin operator codes (BuiltinOperator in schema.fbs).
const (
	opAdd             = 0
	opAvgPool         = 1
	opConcat          = 2
	opConv            = 3
	opDepthwise       = 4
	opDequantize      = 6
	opFullyConnected  = 9
	opLogistic        = 14
	opMaxPool         = 17
	opMul             = 18
	opRelu            = 19
	opRelu6           = 21
	opReshape         = 22
	opSoftmax         = 25
	opTanh            = 28
	opPad             = 34
	opGather          = 36
	opTranspose       = 39
	opMean            = 40
	opSub             = 41
	opDiv             = 42
	opSqueeze         = 43
	opStridedSlice    = 45
	opExp             = 47
	opCast            = 53
	opMaximum         = 55
	opArgMax          = 56
	opMinimum         = 57
	opNeg             = 59
	opPadV2           = 60
	opSlice           = 65
	opExpandDims      = 70
	opLog             = 73
	opSum             = 74
	opSqrt            = 75
	opRsqrt           = 76
	opShape           = 77
	opPow             = 78
	opReduceProd      = 81
	opReduceMax       = 82
	opPack            = 83
	opReduceMin       = 89
	opFloorDiv        = 90
	opSquare          = 92
	opFill            = 94
	opLeakyRelu       = 98
	opSquaredDiff     = 99
	opAbs             = 101
	opAddN            = 106
	opElu             = 111
	opBatchMatMul     = 126
	opSign            = 158
	opFloor           = 8
	opRange           = 96
	opGreaterForCodes = 127 // PLACEHOLDER_FOR_GREATER_OP_CODES
)

// BuiltinOptions union members (their index in the union, NONE = 0).
const (
	optNone          = 0
	optConv          = 1
	optDepthwise     = 2
	optPool          = 5
	optFC            = 8
	optSoftmax       = 9
	optConcat        = 10
	optGather        = 23
	optReducer       = 27
	optSqueeze       = 30
	optStridedSlice  = 32
	optCast          = 37
	optArgMax        = 40
	optShape         = 55
	optPack          = 59
	optLeakyRelu     = 75
	optBatchMatMul   = 101
	paddingSame      = 0
	paddingValid     = 1
	activationNone   = 0
	activationRelu   = 1
	activationRelu6  = 3
	schemaVersion    = 3
	fileIdentifier   = "TFL3"
	bufferAlignment  = 16
	signatureDefault = "serving_default"
)

// TensorType values.
const (
	ttFloat32 = 0
	ttFloat16 = 1
	ttInt32   = 2
	ttInt64   = 4
	ttBool    = 6
)

// tensorT is one tensor of the subgraph.
type tensorT struct {
	name  string
	dtype int8
	// shape has 1 where the signature has -1 (the batch): TFLite resizes
	// from there.
	shape, signature []int32
	buffer           uint32 // 0: no data (an activation)
}

// option is one scalar field of an options table.
type option struct {
	slot int
	kind byte // 'i' int32, 'b' bool, 'f' float32, 'y' byte (enums)
	i    int32
	f    float32
}

func oInt(slot int, v int32) option     { return option{slot: slot, kind: 'i', i: v} }
func oByte(slot int, v int32) option    { return option{slot: slot, kind: 'y', i: v} }
func oBool(slot int, v bool) option     { return option{slot: slot, kind: 'b', i: b2i(v)} }
func oFloat(slot int, v float32) option { return option{slot: slot, kind: 'f', f: v} }

func b2i(v bool) int32 {
	if v {
		return 1
	}
	return 0
}

// operatorT is one operator: a builtin code, tensor indices and its
// options table (type optType, the scalar fields opts, and at most one
// int vector field at slot vecSlot).
type operatorT struct {
	code            int32
	inputs, outputs []int32
	optType         byte
	opts            []option
	vecSlot         int
	vec             []int32
}

// metadataT is one Model.metadata entry (a name and a buffer).
type metadataT struct {
	name   string
	buffer uint32
}

// model is what the writer lays out.
type model struct {
	tensors []tensorT
	ops     []operatorT
	buffers [][]byte // buffers[0] is the empty sentinel
	inputs  []int32
	outputs []int32
	// inNames and outNames name the signature's inputs and outputs.
	inNames, outNames []string
	metadata          []metadataT
	description       string
}

func (m *model) addBuffer(b []byte) uint32 {
	m.buffers = append(m.buffers, b)
	return uint32(len(m.buffers) - 1)
}

func int32Vector(b *flatbuffers.Builder, v []int32) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependInt32(v[i])
	}
	return b.EndVector(len(v))
}

func offsetVector(b *flatbuffers.Builder, v []flatbuffers.UOffsetT) flatbuffers.UOffsetT {
	b.StartVector(4, len(v), 4)
	for i := len(v) - 1; i >= 0; i-- {
		b.PrependUOffsetT(v[i])
	}
	return b.EndVector(len(v))
}

// bytes serialises m as a TFLite flatbuffer.
func (m *model) bytes() []byte {
	size := 1 << 16
	for _, d := range m.buffers {
		size += len(d) + bufferAlignment
	}
	b := flatbuffers.NewBuilder(size)

	// Buffers first: they are the bulk, and their data must start on a
	// 16-byte boundary.
	bufs := make([]flatbuffers.UOffsetT, len(m.buffers))
	for i := len(m.buffers) - 1; i >= 0; i-- {
		var data flatbuffers.UOffsetT
		if len(m.buffers[i]) > 0 {
			b.Prep(bufferAlignment, len(m.buffers[i]))
			data = b.CreateByteVector(m.buffers[i])
		}
		b.StartObject(3)
		if data != 0 {
			b.PrependUOffsetTSlot(0, data, 0)
		}
		bufs[i] = b.EndObject()
	}
	bufVec := offsetVector(b, bufs)

	// Operator codes, in order of first use.
	codeIndex := map[int32]uint32{}
	var codes []int32
	for _, op := range m.ops {
		if _, ok := codeIndex[op.code]; !ok {
			codeIndex[op.code] = uint32(len(codes))
			codes = append(codes, op.code)
		}
	}
	codeOffs := make([]flatbuffers.UOffsetT, len(codes))
	for i, c := range codes {
		b.StartObject(4)
		dep := c
		if dep > opGreaterForCodes {
			dep = opGreaterForCodes
		}
		b.PrependInt8Slot(0, int8(dep), 0)
		b.PrependInt32Slot(2, 1, 1) // version
		b.PrependInt32Slot(3, c, 0)
		codeOffs[i] = b.EndObject()
	}
	codeVec := offsetVector(b, codeOffs)

	// Tensors.
	tens := make([]flatbuffers.UOffsetT, len(m.tensors))
	for i, t := range m.tensors {
		name := b.CreateString(t.name)
		shape := int32Vector(b, t.shape)
		var sig flatbuffers.UOffsetT
		if t.signature != nil {
			sig = int32Vector(b, t.signature)
		}
		b.StartObject(10)
		b.PrependUOffsetTSlot(0, shape, 0)
		b.PrependInt8Slot(1, t.dtype, 0)
		b.PrependUint32Slot(2, t.buffer, 0)
		b.PrependUOffsetTSlot(3, name, 0)
		if sig != 0 {
			b.PrependUOffsetTSlot(7, sig, 0)
		}
		b.PrependBoolSlot(8, true, false) // has_rank: a [] shape is a scalar
		tens[i] = b.EndObject()
	}
	tensVec := offsetVector(b, tens)

	// Operators.
	ops := make([]flatbuffers.UOffsetT, len(m.ops))
	for i, op := range m.ops {
		in, out := int32Vector(b, op.inputs), int32Vector(b, op.outputs)
		var opts flatbuffers.UOffsetT
		if op.optType != optNone {
			var vec flatbuffers.UOffsetT
			if op.vec != nil {
				vec = int32Vector(b, op.vec)
			}
			b.StartObject(16)
			for _, o := range op.opts {
				switch o.kind {
				case 'i':
					b.PrependInt32Slot(o.slot, o.i, ^o.i) // never the default: always written
				case 'y':
					b.PrependInt8Slot(o.slot, int8(o.i), ^int8(o.i))
				case 'b':
					b.PrependBoolSlot(o.slot, o.i != 0, o.i == 0)
				case 'f':
					b.PrependFloat32Slot(o.slot, o.f, o.f+1)
				}
			}
			if vec != 0 {
				b.PrependUOffsetTSlot(op.vecSlot, vec, 0)
			}
			opts = b.EndObject()
		}
		b.StartObject(5)
		b.PrependUint32Slot(0, codeIndex[op.code], 0)
		b.PrependUOffsetTSlot(1, in, 0)
		b.PrependUOffsetTSlot(2, out, 0)
		if opts != 0 {
			b.PrependByteSlot(3, op.optType, 0)
			b.PrependUOffsetTSlot(4, opts, 0)
		}
		ops[i] = b.EndObject()
	}
	opsVec := offsetVector(b, ops)

	inVec, outVec := int32Vector(b, m.inputs), int32Vector(b, m.outputs)
	sgName := b.CreateString("main")
	b.StartObject(5)
	b.PrependUOffsetTSlot(0, tensVec, 0)
	b.PrependUOffsetTSlot(1, inVec, 0)
	b.PrependUOffsetTSlot(2, outVec, 0)
	b.PrependUOffsetTSlot(3, opsVec, 0)
	b.PrependUOffsetTSlot(4, sgName, 0)
	subgraph := b.EndObject()
	sgVec := offsetVector(b, []flatbuffers.UOffsetT{subgraph})

	tensorMaps := func(names []string, idx []int32) flatbuffers.UOffsetT {
		maps := make([]flatbuffers.UOffsetT, len(names))
		for i, n := range names {
			s := b.CreateString(n)
			b.StartObject(2)
			b.PrependUOffsetTSlot(0, s, 0)
			b.PrependUint32Slot(1, uint32(idx[i]), 0)
			maps[i] = b.EndObject()
		}
		return offsetVector(b, maps)
	}
	sigIn, sigOut := tensorMaps(m.inNames, m.inputs), tensorMaps(m.outNames, m.outputs)
	sigKey := b.CreateString(signatureDefault)
	b.StartObject(5)
	b.PrependUOffsetTSlot(0, sigIn, 0)
	b.PrependUOffsetTSlot(1, sigOut, 0)
	b.PrependUOffsetTSlot(2, sigKey, 0)
	b.PrependUint32Slot(4, 0, 0)
	sigVec := offsetVector(b, []flatbuffers.UOffsetT{b.EndObject()})

	metas := make([]flatbuffers.UOffsetT, len(m.metadata))
	for i, md := range m.metadata {
		s := b.CreateString(md.name)
		b.StartObject(2)
		b.PrependUOffsetTSlot(0, s, 0)
		b.PrependUint32Slot(1, md.buffer, 0)
		metas[i] = b.EndObject()
	}
	metaVec := offsetVector(b, metas)
	desc := b.CreateString(m.description)

	b.StartObject(8)
	b.PrependUint32Slot(0, schemaVersion, 0)
	b.PrependUOffsetTSlot(1, codeVec, 0)
	b.PrependUOffsetTSlot(2, sgVec, 0)
	b.PrependUOffsetTSlot(3, desc, 0)
	b.PrependUOffsetTSlot(4, bufVec, 0)
	b.PrependUOffsetTSlot(6, metaVec, 0)
	b.PrependUOffsetTSlot(7, sigVec, 0)
	b.FinishWithFileIdentifier(b.EndObject(), []byte(fileIdentifier))
	return b.FinishedBytes()
}
