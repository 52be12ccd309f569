package tensor

import (
	"errors"
	"fmt"
)

// DType is a TensorFlow DataType enum value (types.proto), so that values
// read from GraphDefs and TensorBundles need no translation.
type DType int32

// The dtypes graft reads and computes with. Numbers follow types.proto.
const (
	Invalid DType = 0
	Float32 DType = 1
	Float64 DType = 2
	Int32   DType = 3
	Uint8   DType = 4
	Int16   DType = 5
	Int8    DType = 6
	String  DType = 7
	Int64   DType = 9
	Bool    DType = 10
	Float16 DType = 19
)

var dtypeNames = map[DType]string{
	Float32: "float32", Float64: "float64", Int32: "int32", Uint8: "uint8",
	Int16: "int16", Int8: "int8", String: "string", Int64: "int64",
	Bool: "bool", Float16: "float16",
}

func (d DType) String() string {
	if n, ok := dtypeNames[d]; ok {
		return n
	}
	return fmt.Sprintf("dtype(%d)", int32(d))
}

// Size is the byte width of one element as TensorFlow stores it, 0 for
// variable-size types (strings).
func (d DType) Size() int {
	switch d {
	case Float32, Int32:
		return 4
	case Float64, Int64:
		return 8
	case Float16, Int16:
		return 2
	case Int8, Uint8, Bool:
		return 1
	}
	return 0
}

// ErrShape reports a shape that does not fit the data or the operation.
var ErrShape = errors.New("tensor: shape mismatch")

// Tensor is a dense, row-major host tensor. Exactly one backing slice is
// set, chosen by DType: Float32 and Float16 (widened on read) use F32,
// Float64 F64, Int32/Int16/Int8/Uint8 I32, Int64 I64, Bool B, String S.
type Tensor struct {
	DType DType
	Shape []int
	F32   []float32
	F64   []float64
	I32   []int32
	I64   []int64
	B     []bool
	S     [][]byte
}

// NumElements is the product of the shape (1 for a scalar).
func NumElements(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// New allocates a zero tensor of the given dtype and shape.
func New(dt DType, shape ...int) *Tensor {
	n := NumElements(shape)
	t := &Tensor{DType: dt, Shape: append([]int(nil), shape...)}
	switch dt {
	case Float32, Float16:
		t.F32 = make([]float32, n)
	case Float64:
		t.F64 = make([]float64, n)
	case Int32, Int16, Int8, Uint8:
		t.I32 = make([]int32, n)
	case Int64:
		t.I64 = make([]int64, n)
	case Bool:
		t.B = make([]bool, n)
	case String:
		t.S = make([][]byte, n)
	}
	return t
}

// FromFloat32 wraps data (not copied) as a float32 tensor of the given shape.
func FromFloat32(data []float32, shape ...int) (*Tensor, error) {
	if NumElements(shape) != len(data) {
		return nil, fmt.Errorf("%w: %d values for shape %v", ErrShape, len(data), shape)
	}
	return &Tensor{DType: Float32, Shape: append([]int(nil), shape...), F32: data}, nil
}

// Len is the number of elements.
func (t *Tensor) Len() int { return NumElements(t.Shape) }

// Rank is the number of dimensions.
func (t *Tensor) Rank() int { return len(t.Shape) }

// Reshaped returns a tensor sharing t's data with a new shape of equal size.
func (t *Tensor) Reshaped(shape ...int) (*Tensor, error) {
	if NumElements(shape) != t.Len() {
		return nil, fmt.Errorf("%w: cannot reshape %v to %v", ErrShape, t.Shape, shape)
	}
	c := *t
	c.Shape = append([]int(nil), shape...)
	return &c, nil
}

func (t *Tensor) String() string {
	return fmt.Sprintf("%s%v", t.DType, t.Shape)
}
