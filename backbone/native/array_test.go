package native

import (
	"errors"
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"
)

// x234 is x[i,j,k] = 12i + 4j + k (0..23), shape [2,3,4].
func x234() *tensor.Tensor {
	t := tensor.New(tensor.Float32, 2, 3, 4)
	for i := range t.F32 {
		t.F32[i] = float32(i)
	}
	return t
}

func seq(vals ...int) []float32 {
	out := make([]float32, len(vals))
	for i, v := range vals {
		out[i] = float32(v)
	}
	return out
}

func TestStridedSlice(t *testing.T) {
	x := x234()
	ss := func(begin, end, strides []int32, masks map[string]int64) *tensor.Tensor {
		at := attrMap{}
		for k, v := range masks {
			at[k] = aInt(v)
		}
		n := []int{len(begin)}
		return mustRun(t, "StridedSlice", at, x, i32(n, begin...), i32(n, end...), i32(n, strides...))
	}
	// x[1]: shrink axis 0.
	y := ss([]int32{1}, []int32{2}, []int32{1}, map[string]int64{"shrink_axis_mask": 1})
	wantF32(t, y, []int{3, 4}, seq(12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23)...)
	// x[-1:, 1:] : negative begin, implicit trailing ellipsis.
	y = ss([]int32{-1, 1}, []int32{0, 0}, []int32{1, 1}, map[string]int64{"end_mask": 3})
	wantF32(t, y, []int{1, 2, 4}, seq(16, 17, 18, 19, 20, 21, 22, 23)...)
	// x[:, ::-1, ::2]: reversed middle axis.
	y = ss([]int32{0, 0, 0}, []int32{0, 0, 0}, []int32{1, -1, 2}, map[string]int64{"begin_mask": 7, "end_mask": 7})
	wantF32(t, y, []int{2, 3, 2}, seq(8, 10, 4, 6, 0, 2, 20, 22, 16, 18, 12, 14)...)
	// x[..., 1:3]: explicit ellipsis.
	y = ss([]int32{0, 1}, []int32{0, 3}, []int32{1, 1}, map[string]int64{"ellipsis_mask": 1})
	wantF32(t, y, []int{2, 3, 2}, seq(1, 2, 5, 6, 9, 10, 13, 14, 17, 18, 21, 22)...)
	// x[:, tf.newaxis, 0]: new axis then shrink.
	y = ss([]int32{0, 0, 0}, []int32{0, 0, 1}, []int32{1, 1, 1}, map[string]int64{"begin_mask": 1, "end_mask": 1, "new_axis_mask": 2, "shrink_axis_mask": 4})
	wantF32(t, y, []int{2, 1, 4}, seq(0, 1, 2, 3, 12, 13, 14, 15)...)
	// x[1, ..., 2]: shrink on both sides of an ellipsis.
	y = ss([]int32{1, 0, 2}, []int32{2, 0, 3}, []int32{1, 1, 1}, map[string]int64{"ellipsis_mask": 2, "shrink_axis_mask": 5})
	wantF32(t, y, []int{3}, 14, 18, 22)
	// Out-of-range bounds clamp: x[0, 5:10] is empty along axis 1.
	y = ss([]int32{0, 5}, []int32{1, 10}, []int32{1, 1}, nil)
	wantShape(t, y, 1, 0, 4)
	// Keras shape arithmetic: tf.shape(x)[0] on an int32 shape vector.
	shape := i32([]int{4}, 5, 7, 7, 512)
	n1 := []int{1}
	s0 := mustRun(t, "StridedSlice", attrMap{"shrink_axis_mask": aInt(1)}, shape, i32(n1, 0), i32(n1, 1), i32(n1, 1))
	wantI32(t, s0, []int{}, 5)
	// Errors: shrink index out of range, zero stride.
	if _, err := runOp("StridedSlice", attrMap{"shrink_axis_mask": aInt(1)}, x, i32(n1, 2), i32(n1, 3), i32(n1, 1)); !errors.Is(err, ErrValue) {
		t.Errorf("x[2] of size 2: err = %v, want ErrValue", err)
	}
	if _, err := runOp("StridedSlice", nil, x, i32(n1, 0), i32(n1, 1), i32(n1, 0)); !errors.Is(err, ErrValue) {
		t.Errorf("stride 0: err = %v, want ErrValue", err)
	}
}

func TestShapeOps(t *testing.T) {
	x := x234()
	wantI32(t, mustRun(t, "Shape", nil, x), []int{3}, 2, 3, 4)
	if s := mustRun(t, "Shape", attrMap{"out_type": aType(tensor.Int64)}, x); s.I64[2] != 4 {
		t.Errorf("Shape int64: %v", s.I64)
	}
	wantI32(t, mustRun(t, "Size", nil, x), []int{}, 24)
	wantI32(t, mustRun(t, "Rank", nil, x), []int{}, 3)
	y := mustRun(t, "Reshape", nil, x, i32([]int{2}, -1, 6))
	wantF32(t, y, []int{4, 6}, x.F32...)
	y = mustRun(t, "Reshape", nil, x, i64([]int{3}, 4, 3, 2))
	wantShape(t, y, 4, 3, 2)
	if _, err := runOp("Reshape", nil, x, i32([]int{2}, -1, 5)); !errors.Is(err, ErrShape) {
		t.Errorf("24 elements to [-1,5]: err = %v, want ErrShape", err)
	}
	if _, err := runOp("Reshape", nil, x, i32([]int{2}, -1, -1)); !errors.Is(err, ErrValue) {
		t.Errorf("two -1: err = %v, want ErrValue", err)
	}
	one := iota32(1, 3, 1, 2)
	wantShape(t, mustRun(t, "Squeeze", nil, one), 3, 2)
	wantShape(t, mustRun(t, "Squeeze", attrMap{"squeeze_dims": aInts(-2)}, one), 1, 3, 2)
	if _, err := runOp("Squeeze", attrMap{"squeeze_dims": aInts(1)}, one); !errors.Is(err, ErrShape) {
		t.Errorf("squeeze dim of size 3: err = %v", err)
	}
	wantShape(t, mustRun(t, "ExpandDims", nil, x, i32(nil, -1)), 2, 3, 4, 1)
	wantShape(t, mustRun(t, "ExpandDims", nil, x, i32(nil, 0)), 1, 2, 3, 4)
}

func TestTransposeConcatPack(t *testing.T) {
	x := x234()
	// perm [2,0,1]: y[k,i,j] = x[i,j,k] = 12i + 4j + k.
	y := mustRun(t, "Transpose", nil, x, i32([]int{3}, 2, 0, 1))
	var want []float32
	for k := range 4 {
		for i := range 2 {
			for j := range 3 {
				want = append(want, float32(12*i+4*j+k))
			}
		}
	}
	wantF32(t, y, []int{4, 2, 3}, want...)
	if _, err := runOp("Transpose", nil, x, i32([]int{3}, 0, 0, 1)); !errors.Is(err, ErrValue) {
		t.Errorf("bad perm: err = %v", err)
	}
	a, b := f32([]int{2, 1}, 1, 2), f32([]int{2, 2}, 3, 4, 5, 6)
	wantF32(t, mustRun(t, "ConcatV2", attrMap{"N": aInt(2)}, a, b, i32(nil, -1)), []int{2, 3}, 1, 3, 4, 2, 5, 6)
	wantF32(t, mustRun(t, "ConcatV2", nil, b, b, i32(nil, 0)), []int{4, 2}, 3, 4, 5, 6, 3, 4, 5, 6)
	if _, err := runOp("ConcatV2", nil, a, f32([]int{3, 1}, 1, 2, 3), i32(nil, 1)); !errors.Is(err, ErrShape) {
		t.Errorf("concat [2,1] [3,1] on axis 1: err = %v", err)
	}
	c := f32([]int{2}, 10, 20)
	d := f32([]int{2}, 30, 40)
	wantF32(t, mustRun(t, "Pack", nil, c, d), []int{2, 2}, 10, 20, 30, 40)
	wantF32(t, mustRun(t, "Pack", attrMap{"axis": aInt(1)}, c, d), []int{2, 2}, 10, 30, 20, 40)
	// Keras: tf.stack([batch, -1]) of int32 scalars.
	wantI32(t, mustRun(t, "Pack", nil, i32(nil, 5), i32(nil, -1)), []int{2}, 5, -1)
}

func TestPadSliceFillRangeCast(t *testing.T) {
	x := f32([]int{1, 2}, 1, 2)
	p := i32([]int{2, 2}, 1, 0, 0, 2)
	wantF32(t, mustRun(t, "Pad", nil, x, p), []int{2, 4}, 0, 0, 0, 0, 1, 2, 0, 0)
	wantF32(t, mustRun(t, "PadV2", nil, x, p, f32(nil, -1)), []int{2, 4}, -1, -1, -1, -1, 1, 2, -1, -1)
	if _, err := runOp("Pad", nil, x, i32([]int{1, 2}, 1, 1)); !errors.Is(err, ErrShape) {
		t.Errorf("paddings of wrong rank: err = %v", err)
	}
	y := mustRun(t, "Slice", nil, x234(), i32([]int{3}, 1, 1, 2), i32([]int{3}, -1, 2, 1))
	wantF32(t, y, []int{1, 2, 1}, 18, 22)
	wantF32(t, mustRun(t, "Fill", nil, i32([]int{2}, 2, 2), f32(nil, 7)), []int{2, 2}, 7, 7, 7, 7)
	wantI32(t, mustRun(t, "Range", nil, i32(nil, 3), i32(nil, 10), i32(nil, 3)), []int{3}, 3, 6, 9)
	wantF32(t, mustRun(t, "Range", nil, f32(nil, 1), f32(nil, 0), f32(nil, -0.25)), []int{4}, 1, 0.75, 0.5, 0.25)
	wantI32(t, mustRun(t, "Cast", attrMap{"DstT": aType(tensor.Int32)}, f32([]int{3}, -1.7, 0.5, 2.9)), []int{3}, -1, 0, 2)
	wantF32(t, mustRun(t, "Cast", attrMap{"DstT": aType(tensor.Float32)}, i64([]int{2}, -3, 4)), []int{2}, -3, 4)
	u8 := mustRun(t, "Cast", attrMap{"DstT": aType(tensor.Uint8)}, i32([]int{2}, 256+7, -1))
	if u8.DType != tensor.Uint8 || u8.I32[0] != 7 || u8.I32[1] != 255 {
		t.Errorf("Cast to uint8 = %v %v", u8.DType, u8.I32)
	}
}

func TestIdentityOps(t *testing.T) {
	x := x234()
	out, err := runOp("IdentityN", nil, x, f32(nil, 1))
	if err != nil || len(out) != 2 || out[0] != x {
		t.Fatalf("IdentityN: %v %v", out, err)
	}
	if y := mustRun(t, "StopGradient", nil, x); y != x {
		t.Error("StopGradient should pass its input through")
	}
	if out, err := runOp("NoOp", nil); err != nil || len(out) != 0 {
		t.Errorf("NoOp: %v %v", out, err)
	}
	if _, err := runOp("Identity", nil); !errors.Is(err, ErrGraph) {
		t.Errorf("Identity without input: err = %v, want ErrGraph", err)
	}
}
