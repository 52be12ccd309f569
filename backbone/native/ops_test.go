package native

import (
	"errors"
	"math"
	"testing"
)

func TestUnary(t *testing.T) {
	x := f32([]int{5}, -2, -0.5, 0, 3, 8)
	cases := []struct {
		op   string
		want []float32
	}{
		{"Relu", []float32{0, 0, 0, 3, 8}},
		{"Relu6", []float32{0, 0, 0, 3, 6}},
		{"Neg", []float32{2, 0.5, 0, -3, -8}},
		{"Square", []float32{4, 0.25, 0, 9, 64}},
		{"Abs", []float32{2, 0.5, 0, 3, 8}},
		// sigmoid(0) = 0.5; sigmoid(-x) = 1 - sigmoid(x); 1/(1+e^2) = 0.11920292
		{"Sigmoid", []float32{0.11920292, 0.37754067, 0.5, 0.95257413, 0.99966465}},
		{"Tanh", []float32{-0.96402758, -0.46211716, 0, 0.99505475, 0.99999977}},
	}
	for _, c := range cases {
		wantF32(t, mustRun(t, c.op, nil, x), []int{5}, c.want...)
	}
	pos := f32([]int{3}, 1, 4, 0.25)
	wantF32(t, mustRun(t, "Sqrt", nil, pos), []int{3}, 1, 2, 0.5)
	wantF32(t, mustRun(t, "Rsqrt", nil, pos), []int{3}, 1, 0.5, 2)
	wantF32(t, mustRun(t, "Exp", nil, f32([]int{2}, 0, 1)), []int{2}, 1, math.E)
	wantF32(t, mustRun(t, "Log", nil, f32([]int{2}, 1, math.E)), []int{2}, 0, 1)
	// erfc(x) = 1 - erf(x): Abramowitz and Stegun's table, erfc(-x) = 2 - erfc(x).
	wantF32(t, mustRun(t, "Erfc", nil, f32([]int{4}, 0, 1, -1, 2)), []int{4}, 1, 0.15729921, 1.8427008, 0.0046777350)
	wantF32(t, mustRun(t, "LeakyRelu", attrMap{"alpha": aFloat(0.1)}, x), []int{5}, -0.2, -0.05, 0, 3, 8)
	if _, err := runOp("Relu", nil, i32([]int{1}, 1)); !errors.Is(err, ErrDType) {
		t.Errorf("Relu on int32: err = %v, want ErrDType", err)
	}
}

func TestBroadcastRanks(t *testing.T) {
	// [2,1,3] + [4,1] -> [2,4,3]: out[i,j,k] = a[i,0,k] + b[j,0]
	a := f32([]int{2, 1, 3}, 1, 2, 3, 4, 5, 6)
	b := f32([]int{4, 1}, 10, 20, 30, 40)
	want := []float32{}
	for i := range 2 {
		for j := range 4 {
			for k := range 3 {
				want = append(want, a.F32[i*3+k]+b.F32[j])
			}
		}
	}
	wantF32(t, mustRun(t, "AddV2", nil, a, b), []int{2, 4, 3}, want...)
	// Scalar on either side.
	s := f32(nil, 2)
	wantF32(t, mustRun(t, "Mul", nil, s, a), []int{2, 1, 3}, 2, 4, 6, 8, 10, 12)
	wantF32(t, mustRun(t, "RealDiv", nil, a, s), []int{2, 1, 3}, 0.5, 1, 1.5, 2, 2.5, 3)
	wantF32(t, mustRun(t, "Sub", nil, s, a), []int{2, 1, 3}, 1, 0, -1, -2, -3, -4)
	// Per-channel (bias-like) and column broadcast.
	c := f32([]int{3}, 0, 10, -10)
	wantF32(t, mustRun(t, "Maximum", nil, a, c), []int{2, 1, 3}, 1, 10, 3, 4, 10, 6)
	wantF32(t, mustRun(t, "Minimum", nil, a, c), []int{2, 1, 3}, 0, 2, -10, 0, 5, -10)
	col := f32([]int{2, 1, 1}, 1, 2)
	wantF32(t, mustRun(t, "SquaredDifference", nil, a, col), []int{2, 1, 3}, 0, 1, 4, 4, 9, 16)
	// Integer shape arithmetic.
	wantI32(t, mustRun(t, "Mul", nil, i32([]int{2}, 3, 4), i32(nil, 5)), []int{2}, 15, 20)
	wantI32(t, mustRun(t, "FloorDiv", nil, i32([]int{2}, 7, -7), i32(nil, 2)), []int{2}, 3, -4)
	if _, err := runOp("RealDiv", nil, i32([]int{1}, 1), i32([]int{1}, 0)); !errors.Is(err, ErrValue) {
		t.Errorf("int division by zero: err = %v, want ErrValue", err)
	}
	if _, err := runOp("Add", nil, f32([]int{2}, 1, 2), f32([]int{3}, 1, 2, 3)); !errors.Is(err, ErrShape) {
		t.Errorf("[2]+[3]: err = %v, want ErrShape", err)
	}
	if _, err := runOp("Add", nil, f32([]int{1}, 1), i32([]int{1}, 1)); !errors.Is(err, ErrDType) {
		t.Errorf("float+int: err = %v, want ErrDType", err)
	}
}

// A large broadcast exercises the parallel row split.
func TestBroadcastLarge(t *testing.T) {
	a := iota32(64, 33, 17)
	b := f32([]int{17}, make([]float32, 17)...)
	for i := range b.F32 {
		b.F32[i] = float32(i)
	}
	y := mustRun(t, "Mul", nil, a, b)
	for i, v := range y.F32 {
		if want := float32(i+1) * float32(i%17); v != want {
			t.Fatalf("y[%d] = %v, want %v", i, v, want)
		}
	}
}

// The squeeze-and-excitation scale, x[n,h,w,c] * s[n,0,0,c] (40 channels:
// the vector loop's 32- and 8-wide parts, then a 1-wide tail at 41),
// and an elementwise add, against the formula per value.
func TestBroadcastChannelScale(t *testing.T) {
	for _, c := range []int{40, 41} {
		x := iota32(2, 3, 5, c)
		s := f32([]int{2, 1, 1, c}, make([]float32, 2*c)...)
		for i := range s.F32 {
			s.F32[i] = float32(i%7) - 3
		}
		y := mustRun(t, "Mul", nil, x, s)
		sum := mustRun(t, "AddV2", nil, x, x)
		for i, v := range y.F32 {
			n, ch := i/(3*5*c), i%c
			if want := float32(i+1) * s.F32[n*c+ch]; v != want {
				t.Fatalf("c=%d: x*s at %d = %v, want %v", c, i, v, want)
			}
			if want := 2 * float32(i+1); sum.F32[i] != want {
				t.Fatalf("c=%d: x+x at %d = %v, want %v", c, i, sum.F32[i], want)
			}
		}
	}
}

func TestBiasAddBatchNorm(t *testing.T) {
	x := f32([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	wantF32(t, mustRun(t, "BiasAdd", nil, x, f32([]int{2}, 10, 20)), []int{1, 1, 2, 2}, 11, 22, 13, 24)
	if _, err := runOp("BiasAdd", nil, x, f32([]int{3}, 1, 2, 3)); !errors.Is(err, ErrShape) {
		t.Errorf("bias size mismatch: err = %v", err)
	}
	// y = (x - mean) * scale / sqrt(var + eps) + offset; var + eps = 4 and 0.25.
	at := attrMap{"epsilon": aFloat(0), "is_training": aBool(false)}
	scale, offset := f32([]int{2}, 2, 1), f32([]int{2}, 1, -1)
	mean, variance := f32([]int{2}, 1, 2), f32([]int{2}, 4, 0.25)
	out, err := runOp("FusedBatchNormV3", at, x, scale, offset, mean, variance)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 6 {
		t.Fatalf("%d outputs, want 6", len(out))
	}
	// c0: (x-1)*2/2+1 = x; c1: (x-2)*1/0.5-1 = 2x-5
	wantF32(t, out[0], []int{1, 1, 2, 2}, 1, -1, 3, 3)
	if _, err := runOp("FusedBatchNorm", attrMap{"is_training": aBool(true)}, x, scale, offset, mean, variance); !errors.Is(err, ErrAttr) {
		t.Errorf("is_training: err = %v, want ErrAttr", err)
	}
}

func TestSoftmaxMatMul(t *testing.T) {
	// softmax([1,2,3]) = e^i / (e + e^2 + e^3); shifting by a constant changes nothing.
	y := mustRun(t, "Softmax", nil, f32([]int{2, 3}, 1, 2, 3, 1001, 1002, 1003))
	wantF32(t, y, []int{2, 3}, 0.09003057, 0.24472847, 0.66524096, 0.09003057, 0.24472847, 0.66524096)
	a := f32([]int{2, 3}, 1, 2, 3, 4, 5, 6)
	b := f32([]int{2, 3}, 1, 0, 1, 0, 1, 0) // used transposed: [3,2]
	wantF32(t, mustRun(t, "MatMul", attrMap{"transpose_b": aBool(true)}, a, b), []int{2, 2}, 4, 2, 10, 5)
	wantF32(t, mustRun(t, "MatMul", attrMap{"transpose_a": aBool(true)}, a, f32([]int{2, 1}, 1, 1)), []int{3, 1}, 5, 7, 9)
	if _, err := runOp("MatMul", nil, a, a); !errors.Is(err, ErrShape) {
		t.Errorf("[2,3]x[2,3]: err = %v, want ErrShape", err)
	}
}

func TestReductions(t *testing.T) {
	x := iota32(2, 2, 2, 3) // NHWC, values 1..24
	// Global average pool: mean over H, W per (n, c).
	// n0 c0: (1+4+7+10)/4 = 5.5; each channel +1; n1 adds 12.
	y := mustRun(t, "Mean", attrMap{"keep_dims": aBool(true)}, x, i32([]int{2}, 1, 2))
	wantF32(t, y, []int{2, 1, 1, 3}, 5.5, 6.5, 7.5, 17.5, 18.5, 19.5)
	y = mustRun(t, "Sum", nil, x, i32(nil, -1))
	wantShape(t, y, 2, 2, 2)
	if y.F32[0] != 6 || y.F32[7] != 22+23+24 {
		t.Fatalf("Sum over last axis: %v", y.F32)
	}
	// Non-contiguous axes 0 and 2 of [2,2,2,3] reduce to [2,3]:
	// max over n, w of x[n,h,w,c] = x[1,h,1,c] = 12 + 6h + 3 + c + 1.
	wantF32(t, mustRun(t, "Max", nil, x, i32([]int{2}, 0, 2)), []int{2, 3}, 16, 17, 18, 22, 23, 24)
	wantF32(t, mustRun(t, "Min", nil, x, i32([]int{2}, 0, 2)), []int{2, 3}, 1, 2, 3, 7, 8, 9)
	// Mean over two non-adjacent axes divides by the product of their sizes:
	// mean over n, w of x[n,h,w,c] = (x[0,h,0,c]+x[0,h,1,c]+x[1,h,0,c]+x[1,h,1,c])/4 = 6h + c + 8.5
	wantF32(t, mustRun(t, "Mean", nil, x, i32([]int{2}, 0, 2)), []int{2, 3}, 8.5, 9.5, 10.5, 14.5, 15.5, 16.5)
	wantI32(t, mustRun(t, "Prod", nil, i32([]int{3}, 7, 7, 512), i32(nil, 0)), []int{}, 7*7*512)
	// Empty axes: identity, and Mean must not modify its input.
	y = mustRun(t, "Mean", nil, x, i32([]int{0}))
	wantShape(t, y, 2, 2, 2, 3)
	if x.F32[23] != 24 {
		t.Fatal("Mean modified its input")
	}
	if _, err := runOp("Mean", nil, x, i32(nil, 4)); !errors.Is(err, ErrValue) {
		t.Errorf("axis 4 of rank 4: err = %v, want ErrValue", err)
	}
}

func TestBatchMatMulAddN(t *testing.T) {
	// x [2,2,3] @ y [3,1]: row . (1,2,3) = 14, 32, 50, 68.
	y := mustRun(t, "BatchMatMulV2", nil, iota32(2, 2, 3), f32([]int{3, 1}, 1, 2, 3))
	wantF32(t, y, []int{2, 2, 1}, 14, 32, 50, 68)
	// Broadcast batch dims [2,1] x [3]: out[i,j] = x[i] . y[j].
	x := f32([]int{2, 1, 1, 2}, 1, 2, 3, 4)
	w := f32([]int{3, 2, 1}, 1, 0, 0, 1, 1, 1)
	wantF32(t, mustRun(t, "BatchMatMulV2", nil, x, w), []int{2, 3, 1, 1}, 1, 2, 3, 3, 4, 7)
	// adj_y: y given as [1, 2] per batch.
	wantF32(t, mustRun(t, "BatchMatMulV2", attrMap{"adj_y": aBool(true)}, x, f32([]int{1, 1, 2}, 1, 1)), []int{2, 1, 1, 1}, 3, 7)
	if _, err := runOp("BatchMatMulV2", nil, iota32(2, 2, 3), iota32(2, 2, 3)); !errors.Is(err, ErrShape) {
		t.Errorf("inner mismatch: err = %v", err)
	}
	a := f32([]int{2}, 1, 2)
	wantF32(t, mustRun(t, "AddN", nil, a, a, f32([]int{2}, 10, 20)), []int{2}, 12, 24)
}

func TestGather(t *testing.T) {
	x := x234()
	// x[:, [2, 0]] along axis 1: rows j=2 and j=0 of each i.
	y := mustRun(t, "GatherV2", nil, x, i32([]int{2}, 2, 0), i32(nil, 1))
	wantF32(t, y, []int{2, 2, 4}, seq(8, 9, 10, 11, 0, 1, 2, 3, 20, 21, 22, 23, 12, 13, 14, 15)...)
	// Keras Tensordot: gather dims of a shape vector.
	wantI32(t, mustRun(t, "GatherV2", nil, i32([]int{4}, 5, 7, 7, 512), i32([]int{2}, 1, 2), i32(nil, 0)), []int{2}, 7, 7)
	if _, err := runOp("GatherV2", nil, x, i32([]int{1}, 3), i32(nil, 1)); !errors.Is(err, ErrValue) {
		t.Errorf("index 3 of 3: err = %v", err)
	}
}
