package native

import (
	"fmt"

	"github.com/graft-ml/graft/backbone/tensor"
)

// ints returns the value of an integer tensor (shape arithmetic: axes,
// shapes, paddings, slice bounds) as ints. During static inference the value
// may be unknown, which is an error naming what was needed.
func ints(in tinfo, what string) ([]int, error) {
	if !isInt(in.dtype) {
		return nil, fmt.Errorf("%w: %s is %s, want int32 or int64", ErrDType, what, in.dtype)
	}
	if in.value == nil {
		return nil, fmt.Errorf("%w: %s is computed from run-time data, so the output shape cannot be inferred statically", ErrShape, what)
	}
	t := in.value
	out := make([]int, t.Len())
	if storageOf(t.DType) == stI32 {
		for i, v := range t.I32[:len(out)] {
			out[i] = int(v)
		}
	} else {
		for i, v := range t.I64[:len(out)] {
			out[i] = int(v)
		}
	}
	return out, nil
}

// scalarInt reads a scalar (or one-element) integer input.
func scalarInt(in tinfo, what string) (int, error) {
	v, err := ints(in, what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 || len(in.shape) > 1 {
		return 0, fmt.Errorf("%w: %s has shape %v, want a scalar", ErrShape, what, in.shape)
	}
	return v[0], nil
}

// axis normalises a possibly negative axis into [0, rank).
func axis(a, rank int, what string) (int, error) {
	if a < -rank || a >= rank {
		return 0, fmt.Errorf("%w: %s %d out of range for rank %d", ErrValue, what, a, rank)
	}
	if a < 0 {
		a += rank
	}
	return a, nil
}

// intTensor builds an int32 or int64 tensor from ints.
func intTensor(dt tensor.DType, v []int, shape ...int) *tensor.Tensor {
	t := tensor.New(dt, shape...)
	for i, x := range v {
		if storageOf(dt) == stI64 {
			t.I64[i] = int64(x)
		} else {
			t.I32[i] = int32(x)
		}
	}
	return t
}

// asFloat64 reads a scalar numeric tensor as float64 (Range bounds, pad
// constants).
func asFloat64(t *tensor.Tensor, i int) float64 {
	switch storageOf(t.DType) {
	case stF32:
		return float64(t.F32[i])
	case stF64:
		return t.F64[i]
	case stI32:
		return float64(t.I32[i])
	case stI64:
		return float64(t.I64[i])
	case stBool:
		if t.B[i] {
			return 1
		}
	}
	return 0
}

func sameShape(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// strides returns the row-major strides of shape.
func strides(shape []int) []int { return tensor.Strides(shape) }
