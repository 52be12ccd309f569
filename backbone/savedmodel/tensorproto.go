package savedmodel

import (
	"encoding/binary"
	"fmt"
	"math"

	tpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_go_proto"
	shpb "github.com/galeone/tensorflow/tensorflow/go/core/framework/tensor_shape_go_proto"
	typb "github.com/galeone/tensorflow/tensorflow/go/core/framework/types_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// maxElements bounds what a single Const or checkpoint entry may allocate,
// so that a malformed shape cannot exhaust memory (1<<28 float32 = 1 GiB).
const maxElements = 1 << 28

// dtypeOf maps a proto DataType to tensor.DType; reference dtypes (TF1
// variables, +100) map to their base type.
func dtypeOf(dt typb.DataType) tensor.DType {
	if dt > 100 {
		dt -= 100
	}
	return tensor.DType(dt)
}

// shapeOf converts a fully defined TensorShapeProto to dims.
func shapeOf(s *shpb.TensorShapeProto) ([]int, error) {
	if s.GetUnknownRank() {
		return nil, fmt.Errorf("shape has unknown rank")
	}
	dims := make([]int, len(s.GetDim()))
	n := int64(1)
	for i, d := range s.GetDim() {
		if d.Size < 0 {
			return nil, fmt.Errorf("shape %v has an unknown (negative) dimension", shapeDims(s))
		}
		if d.Size > maxElements || (d.Size > 0 && n > maxElements/d.Size) {
			return nil, fmt.Errorf("shape %v is too large", shapeDims(s))
		}
		n *= d.Size
		dims[i] = int(d.Size)
	}
	return dims, nil
}

// shapeDims returns a shape as dims with -1 for unknown sizes, nil for an
// unknown rank.
func shapeDims(s *shpb.TensorShapeProto) []int64 {
	if s == nil || s.UnknownRank {
		return nil
	}
	d := make([]int64, len(s.Dim))
	for i, x := range s.Dim {
		d[i] = x.Size
	}
	return d
}

func shapeProto(dims []int) *shpb.TensorShapeProto {
	s := &shpb.TensorShapeProto{}
	for _, d := range dims {
		s.Dim = append(s.Dim, &shpb.TensorShapeProto_Dim{Size: int64(d)})
	}
	return s
}

// TensorFromProto decodes a TensorProto (a Const's value) into a host
// tensor. Repeated *_val fields shorter than the shape are padded with
// their last value, as TensorFlow does.
func TensorFromProto(p *tpb.TensorProto) (*tensor.Tensor, error) {
	dt := dtypeOf(p.GetDtype())
	shape, err := shapeOf(p.GetTensorShape())
	if err != nil {
		return nil, fmt.Errorf("%w: tensor: %v", ErrCorrupt, err)
	}
	n := tensor.NumElements(shape)
	if len(p.GetTensorContent()) > 0 {
		if dt == tensor.String {
			return nil, fmt.Errorf("%w: string tensor with tensor_content", ErrCorrupt)
		}
		return decodeRaw(dt, shape, p.TensorContent)
	}
	t, err := newTensor(dt, shape)
	if err != nil {
		return nil, err
	}
	var have int
	switch dt {
	case tensor.Float32:
		have = fill(t.F32, p.FloatVal, func(v float32) float32 { return v })
	case tensor.Float16:
		have = fill(t.F32, p.HalfVal, func(v int32) float32 { return halfToFloat(uint16(v)) })
	case tensor.Float64:
		have = fill(t.F64, p.DoubleVal, func(v float64) float64 { return v })
	case tensor.Int32, tensor.Int16, tensor.Int8, tensor.Uint8:
		have = fill(t.I32, p.IntVal, func(v int32) int32 { return v })
	case tensor.Int64:
		have = fill(t.I64, p.Int64Val, func(v int64) int64 { return v })
	case tensor.Bool:
		have = fill(t.B, p.BoolVal, func(v bool) bool { return v })
	case tensor.String:
		have = fill(t.S, p.StringVal, func(v []byte) []byte { return v })
	}
	if have > n {
		return nil, fmt.Errorf("%w: tensor %s%v has %d values", ErrCorrupt, dt, shape, have)
	}
	return t, nil
}

// fill copies src into dst, repeating src's last element; it returns
// len(src) so callers can reject too many values.
func fill[S, D any](dst []D, src []S, conv func(S) D) int {
	for i := range dst {
		if len(src) == 0 {
			break
		}
		dst[i] = conv(src[min(i, len(src)-1)])
	}
	return len(src)
}

func newTensor(dt tensor.DType, shape []int) (*tensor.Tensor, error) {
	if dt.Size() == 0 && dt != tensor.String {
		return nil, fmt.Errorf("%w: dtype %s", ErrUnsupported, dt)
	}
	// A string element is a slice header (24 bytes) before any content:
	// hold string tensors to maxElements' 1 GiB too.
	if dt == tensor.String && tensor.NumElements(shape) > maxElements*4/24 {
		return nil, fmt.Errorf("%w: string tensor of shape %v is too large", ErrCorrupt, shape)
	}
	return tensor.New(dt, shape...), nil
}

// decodeRaw decodes little-endian fixed-size elements (tensor_content and
// TensorBundle data share this layout).
func decodeRaw(dt tensor.DType, shape []int, b []byte) (*tensor.Tensor, error) {
	t, err := newTensor(dt, shape)
	if err != nil {
		return nil, err
	}
	n, es := t.Len(), dt.Size()
	if len(b) != n*es {
		return nil, fmt.Errorf("%w: %s%v needs %d bytes, have %d", ErrCorrupt, dt, shape, n*es, len(b))
	}
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		p := b[i*es:]
		switch dt {
		case tensor.Float32:
			t.F32[i] = math.Float32frombits(le.Uint32(p))
		case tensor.Float16:
			t.F32[i] = halfToFloat(le.Uint16(p))
		case tensor.Float64:
			t.F64[i] = math.Float64frombits(le.Uint64(p))
		case tensor.Int32:
			t.I32[i] = int32(le.Uint32(p))
		case tensor.Int16:
			t.I32[i] = int32(int16(le.Uint16(p)))
		case tensor.Int8:
			t.I32[i] = int32(int8(p[0]))
		case tensor.Uint8:
			t.I32[i] = int32(p[0])
		case tensor.Int64:
			t.I64[i] = int64(le.Uint64(p))
		case tensor.Bool:
			t.B[i] = p[0] != 0
		}
	}
	return t, nil
}

// encodeRaw is the inverse of decodeRaw.
func encodeRaw(t *tensor.Tensor) ([]byte, error) {
	es := t.DType.Size()
	if es == 0 {
		return nil, fmt.Errorf("%w: cannot encode dtype %s", ErrUnsupported, t.DType)
	}
	n := t.Len()
	b := make([]byte, n*es)
	le := binary.LittleEndian
	for i := 0; i < n; i++ {
		p := b[i*es:]
		switch t.DType {
		case tensor.Float32:
			le.PutUint32(p, math.Float32bits(t.F32[i]))
		case tensor.Float16:
			le.PutUint16(p, FloatToHalf(t.F32[i]))
		case tensor.Float64:
			le.PutUint64(p, math.Float64bits(t.F64[i]))
		case tensor.Int32:
			le.PutUint32(p, uint32(t.I32[i]))
		case tensor.Int16:
			le.PutUint16(p, uint16(t.I32[i]))
		case tensor.Int8, tensor.Uint8:
			p[0] = byte(t.I32[i])
		case tensor.Int64:
			le.PutUint64(p, uint64(t.I64[i]))
		case tensor.Bool:
			if t.B[i] {
				p[0] = 1
			}
		}
	}
	return b, nil
}

// TensorToProto encodes a host tensor as a TensorProto (tensor_content for
// fixed-size dtypes, string_val for strings), as TensorFlow does for
// non-scalar constants.
func TensorToProto(t *tensor.Tensor) (*tpb.TensorProto, error) {
	p := &tpb.TensorProto{Dtype: typb.DataType(t.DType), TensorShape: shapeProto(t.Shape)}
	if t.DType == tensor.String {
		p.StringVal = t.S
		return p, nil
	}
	b, err := encodeRaw(t)
	if err != nil {
		return nil, err
	}
	p.TensorContent = b
	return p, nil
}

// halfToFloat widens an IEEE 754 binary16 value.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	frac := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf / nan
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0 && frac == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal: normalise
		e := uint32(127 - 15 + 1)
		for frac&0x400 == 0 {
			frac <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (frac&0x3ff)<<13)
	}
	return math.Float32frombits(sign | (exp+127-15)<<23 | frac<<13)
}

// FloatToHalf narrows to binary16 with round-to-nearest-even (also the
// float16 weights of a TFLite export).
func FloatToHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23&0xff) - 127 + 15
	frac := b & 0x7fffff
	switch {
	case b&0x7fffffff > 0x7f800000: // nan
		return sign | 0x7e00
	case exp >= 0x1f:
		return sign | 0x7c00
	case exp <= 0:
		if exp < -10 {
			return sign
		}
		frac |= 0x800000
		shift := uint32(14 - exp)
		h := frac >> shift
		rem := frac & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && h&1 == 1) {
			h++
		}
		return sign | uint16(h)
	}
	h := uint32(exp)<<10 | frac>>13
	rem := frac & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // may carry into the exponent, which is correct rounding
	}
	return sign | uint16(h)
}
