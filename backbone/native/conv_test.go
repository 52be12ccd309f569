package native

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
)

func convAttrs(pad string, s, d int64) attrMap {
	return attrMap{"strides": aInts(1, s, s, 1), "dilations": aInts(1, d, d, 1), "padding": aStr(pad)}
}

// TensorFlow pads SAME with stride 2 on an even input asymmetrically: no
// row/column before, one after. A 3x3 ones kernel over 1..16 sums:
// (0,0) rows 0-2 x cols 0-2 = 54, (0,1) rows 0-2 x cols 2-3 = 45,
// (1,0) rows 2-3 x cols 0-2 = 72, (1,1) rows 2-3 x cols 2-3 = 54.
func TestConv2DSameStride2Asymmetric(t *testing.T) {
	ones := f32([]int{3, 3, 1, 1}, 1, 1, 1, 1, 1, 1, 1, 1, 1)
	y := mustRun(t, "Conv2D", convAttrs("SAME", 2, 1), iota32(1, 4, 4, 1), ones)
	wantF32(t, y, []int{1, 2, 2, 1}, 54, 45, 72, 54)
}

// A 2x2 ones kernel with dilation 2 over x[r][c] = 5r+c+1 (5x5, VALID)
// sums x[i][j]+x[i][j+2]+x[i+2][j]+x[i+2][j+2] = 20i + 4j + 28.
func TestConv2DDilation(t *testing.T) {
	ones := f32([]int{2, 2, 1, 1}, 1, 1, 1, 1)
	y := mustRun(t, "Conv2D", convAttrs("VALID", 1, 2), iota32(1, 5, 5, 1), ones)
	wantF32(t, y, []int{1, 3, 3, 1}, 28, 32, 36, 48, 52, 56, 68, 72, 76)
}

// Two output channels mixing two input channels, 1x1: y = x . W.
func TestConv2DPointwise(t *testing.T) {
	x := f32([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	w := f32([]int{1, 1, 2, 2}, 1, 10, 100, 1000) // [c][o]
	y := mustRun(t, "Conv2D", convAttrs("VALID", 1, 1), x, w)
	wantF32(t, y, []int{1, 1, 2, 2}, 1+200, 10+2000, 3+400, 30+4000)
}

// refConv is an independent direct convolution: out[n,oy,ox,o] sums
// x[n, oy*s-pt+ky*d, ox*s-pl+kx*d, c] * f[ky,kx,c,o] over in-bounds taps;
// depthwise maps channel c to outputs c*mult+m; a grouped convolution
// (filter depth cg = c/groups) maps channel c to outputs (c/cg)*og..+og-1
// through filter row c%cg.
func refConv(x *tensor.Tensor, f *tensor.Tensor, s, d, pt, pl, oh, ow int, depthwise bool) []float32 {
	n, h, w, c := x.Shape[0], x.Shape[1], x.Shape[2], x.Shape[3]
	kh, kw, cg, fo := f.Shape[0], f.Shape[1], f.Shape[2], f.Shape[3]
	co, og := fo, fo/(c/cg)
	if depthwise {
		co, og = c*fo, fo
	}
	out := make([]float32, n*oh*ow*co)
	for b := 0; b < n; b++ {
		for oy := 0; oy < oh; oy++ {
			for ox := 0; ox < ow; ox++ {
				for ky := 0; ky < kh; ky++ {
					for kx := 0; kx < kw; kx++ {
						iy, ix := oy*s-pt+ky*d, ox*s-pl+kx*d
						if iy < 0 || iy >= h || ix < 0 || ix >= w {
							continue
						}
						for ci := 0; ci < c; ci++ {
							v := x.F32[((b*h+iy)*w+ix)*c+ci]
							for o := 0; o < fo; o++ {
								if !depthwise && o/og != ci/cg {
									continue
								}
								wv := f.F32[((ky*kw+kx)*cg+ci%cg)*fo+o]
								oc := o
								if depthwise {
									oc = ci*fo + o
								}
								out[((b*oh+oy)*ow+ox)*co+oc] += v * wv
							}
						}
					}
				}
			}
		}
	}
	return out
}

func randT(r *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = r.Float32()*2 - 1
	}
	return t
}

func TestConvAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name       string
		h, w, k, s int
		d          int
		pad        string
		explicit   []int64
		// hand-computed output size and leading padding
		oh, ow, pt, pl int
	}{
		// SAME: out = ceil(in/s); pad = (out-1)*s + (k-1)*d + 1 - in, top = pad/2
		{"same-s2-odd", 7, 6, 3, 2, 1, "SAME", nil, 4, 3, 1, 0},
		{"same-s1-d2", 6, 6, 3, 1, 2, "SAME", nil, 6, 6, 2, 2},
		{"valid-s2", 7, 7, 3, 2, 1, "VALID", nil, 3, 3, 0, 0},
		{"explicit", 5, 5, 3, 2, 1, "EXPLICIT", []int64{0, 0, 2, 1, 0, 3, 0, 0}, 3, 3, 2, 0},
		{"k5-same-s2", 9, 8, 5, 2, 1, "SAME", nil, 5, 4, 2, 1},
		// Eleven interior columns: the direct depthwise kernel's groups
		// of four and its single columns.
		{"same-s1-wide", 5, 13, 3, 1, 1, "SAME", nil, 5, 13, 1, 1},
	}
	for _, tc := range cases {
		for _, v := range []struct {
			name       string
			dw         bool
			c, cg, fo  int // input channels, filter depth, filter outputs
			outChannel int
		}{
			{"Conv2D", false, 3, 3, 4, 4},
			{"DepthwiseConv2dNative", true, 3, 3, 2, 6}, // depth multiplier 2
			// Multiplier 1 over 37 channels: the 32-, 8- and 1-wide
			// parts of the vector loop.
			{"DepthwiseConv2dNative-37", true, 37, 37, 1, 37},
			// Multiplier 1 over a multiple of 16 channels: the direct
			// kernel where the CPU has it (32: dw512Asm on AVX-512F, 48:
			// dwAsm).
			{"DepthwiseConv2dNative-32", true, 32, 32, 1, 32},
			{"DepthwiseConv2dNative-48", true, 48, 48, 1, 48},
			{"Conv2D-groups3-depthwise", false, 3, 1, 6, 6},
			{"Conv2D-groups3", false, 6, 2, 6, 6},
		} {
			x := randT(r, 2, tc.h, tc.w, v.c)
			op := "Conv2D"
			if v.dw {
				op = "DepthwiseConv2dNative"
			}
			f := randT(r, tc.k, tc.k, v.cg, v.fo)
			at := convAttrs(tc.pad, int64(tc.s), int64(tc.d))
			if tc.explicit != nil {
				at["explicit_paddings"] = aInts(tc.explicit...)
			}
			y := mustRun(t, op, at, x, f)
			want := refConv(x, f, tc.s, tc.d, tc.pt, tc.pl, tc.oh, tc.ow, v.dw)
			t.Run(tc.name+"/"+v.name, func(t *testing.T) { wantF32(t, y, []int{2, tc.oh, tc.ow, v.outChannel}, want...) })
		}
	}
}

// Depthwise with multiplier 2 on a 1x1 kernel: output channel c*2+m is
// x[c] * f[c][m].
func TestDepthwiseMultiplier(t *testing.T) {
	x := f32([]int{1, 1, 2, 2}, 1, 2, 3, 4)
	f := f32([]int{1, 1, 2, 2}, 10, 20, 30, 40)
	y := mustRun(t, "DepthwiseConv2dNative", convAttrs("VALID", 1, 1), x, f)
	wantF32(t, y, []int{1, 1, 2, 4}, 10, 20, 60, 80, 30, 60, 120, 160)
}

// Two groups of two channels, 1x1: outputs 0-1 mix x0, x1 through filter
// rows 0-1, columns 0-1; outputs 2-3 mix x2, x3 through rows 0-1,
// columns 2-3: 1*1+2*5, 1*2+2*6, 3*3+4*7, 3*4+4*8.
func TestConv2DGroups(t *testing.T) {
	x := f32([]int{1, 1, 1, 4}, 1, 2, 3, 4)
	f := f32([]int{1, 1, 2, 4}, 1, 2, 3, 4, 5, 6, 7, 8)
	wantF32(t, mustRun(t, "Conv2D", convAttrs("VALID", 1, 1), x, f), []int{1, 1, 1, 4}, 11, 14, 37, 44)
	// 4 channels in groups of 2 cannot feed 3 outputs.
	if _, err := runOp("Conv2D", convAttrs("VALID", 1, 1), x, iota32(1, 1, 2, 3)); !errors.Is(err, ErrShape) {
		t.Errorf("outputs not divisible by groups: err = %v, want ErrShape", err)
	}
}

func TestConvErrors(t *testing.T) {
	x, f := iota32(1, 4, 4, 2), iota32(3, 3, 2, 1)
	nchw := convAttrs("SAME", 1, 1)
	nchw["data_format"] = aStr("NCHW")
	if _, err := runOp("Conv2D", nchw, x, f); !errors.Is(err, ErrAttr) {
		t.Errorf("NCHW: err = %v, want ErrAttr", err)
	}
	if _, err := runOp("Conv2D", convAttrs("SAME", 1, 1), x, iota32(3, 3, 3, 1)); !errors.Is(err, ErrShape) {
		t.Errorf("channel mismatch: err = %v, want ErrShape", err)
	}
	if _, err := runOp("Conv2D", convAttrs("VALID", 1, 1), iota32(1, 2, 2, 2), f); !errors.Is(err, ErrShape) {
		t.Errorf("kernel larger than input: err = %v, want ErrShape", err)
	}
	if _, err := runOp("Conv2D", convAttrs("FULL", 1, 1), x, f); !errors.Is(err, ErrAttr) {
		t.Errorf("bad padding: err = %v, want ErrAttr", err)
	}
	if _, err := runOp("Conv2D", attrMap{"padding": aStr("SAME")}, x, f); !errors.Is(err, ErrAttr) {
		t.Errorf("missing strides: err = %v, want ErrAttr", err)
	}
	if _, err := runOp("Conv2D", convAttrs("SAME", 1, 1), i32([]int{1, 1, 1, 1}, 1), f); !errors.Is(err, ErrDType) {
		t.Errorf("int input: err = %v, want ErrDType", err)
	}
}

// Pooling at the edges: SAME 3x3 stride 2 over 1..16 (4x4) pads one
// row/column after. Max is the window's largest valid value; Avg divides by
// the number of valid elements (9, 6, 6, 4), not by 9.
func TestPoolSameEdges(t *testing.T) {
	at := attrMap{"ksize": aInts(1, 3, 3, 1), "strides": aInts(1, 2, 2, 1), "padding": aStr("SAME")}
	x := iota32(1, 4, 4, 1)
	wantF32(t, mustRun(t, "MaxPool", at, x), []int{1, 2, 2, 1}, 11, 12, 15, 16)
	wantF32(t, mustRun(t, "AvgPool", at, x), []int{1, 2, 2, 1}, 54.0/9, 45.0/6, 72.0/6, 54.0/4)
}

func TestPoolValidChannels(t *testing.T) {
	at := attrMap{"ksize": aInts(1, 2, 2, 1), "strides": aInts(1, 2, 2, 1), "padding": aStr("VALID")}
	// Two channels: c0 = 1..16, c1 = -(1..16).
	x := tensor.New(tensor.Float32, 1, 4, 4, 2)
	for i := range 16 {
		x.F32[2*i], x.F32[2*i+1] = float32(i+1), -float32(i+1)
	}
	wantF32(t, mustRun(t, "AvgPool", at, x), []int{1, 2, 2, 2}, 3.5, -3.5, 5.5, -5.5, 11.5, -11.5, 13.5, -13.5)
	wantF32(t, mustRun(t, "MaxPool", at, x), []int{1, 2, 2, 2}, 6, -1, 8, -3, 14, -9, 16, -11)
}

// The direct depthwise kernel with its fused bias and ReLU6 on a case
// counted by hand: with x and f all ones, an output is the number of taps
// inside the image (3x3 SAME: 4 at a corner, 6 on an edge, 9 inside),
// plus the bias, clamped to [0, 6]. The output starts as NaN: every value
// must be written, none accumulated onto what was there.
func TestDepthwiseFusedCounts(t *testing.T) {
	const h, w, c = 4, 7, 32
	x, f := tensor.New(tensor.Float32, 1, h, w, c), tensor.New(tensor.Float32, 3, 3, c, 1)
	for i := range x.F32 {
		x.F32[i] = 1
	}
	for i := range f.F32 {
		f.F32[i] = 1
	}
	bias := make([]float32, c)
	for j := range bias {
		bias[j] = float32(j%4) - 4 // -4, -3, -2, -1
	}
	g, err := window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}.resolve(x.Shape, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer func(saved bool) { avx2Only = saved }(avx2Only)
	for _, only2 := range []bool{false, true} { // dw512Asm, then dwAsm
		avx2Only = only2
		y := make([]float32, h*w*c)
		for i := range y {
			y[i] = float32(math.NaN())
		}
		depthwise(g, x.F32, f.F32, 1, y, &epilogue{bias: bias, act: actRelu6})
		checkCounts(t, y, bias, h, w, c)
	}
}

func checkCounts(t *testing.T, y, bias []float32, h, w, c int) {
	t.Helper()
	for oy := range h {
		for ox := range w {
			rows, cols := 3, 3
			if oy == 0 || oy == h-1 {
				rows = 2
			}
			if ox == 0 || ox == w-1 {
				cols = 2
			}
			for j := range c {
				want := min(max(float32(rows*cols)+bias[j], 0), 6)
				if got := y[(oy*w+ox)*c+j]; got != want {
					t.Fatalf("y[%d,%d,%d] = %v, want %v (%d taps, bias %v)", oy, ox, j, got, want, rows*cols, bias[j])
				}
			}
		}
	}
}

// A convolution's output comes from the arena uncleared (allocRaw): on
// an output of NaN, conv2D (im2col and pointwise, plain and with the
// filter packed once) and depthwise must write every value, and match
// refConv.
func TestConvOverwritesRecycledOutput(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, tc := range []struct {
		name       string
		k, s, c, o int
		dw, packed bool
	}{
		{"3x3", 3, 1, 8, 40, false, false},
		{"3x3-packed", 3, 1, 8, 40, false, true},
		{"3x3s2-packed", 3, 2, 5, 33, false, true},
		{"1x1-packed", 1, 1, 300, 70, false, true},
		{"depthwise-3x3s2", 3, 2, 48, 1, true, false},
		{"depthwise-5x5", 5, 1, 16, 1, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, f := randT(r, 2, 9, 11, tc.c), randT(r, tc.k, tc.k, tc.c, tc.o)
			g, err := window{sh: tc.s, sw: tc.s, dh: 1, dw: 1, mode: "SAME"}.resolve(x.Shape, tc.k, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			co := tc.o
			if tc.dw {
				co = tc.c
			}
			y := tensor.New(tensor.Float32, g.n, g.oh, g.ow, co)
			for i := range y.F32 {
				y.F32[i] = float32(math.NaN())
			}
			switch {
			case tc.dw:
				depthwise(g, x.F32, f.F32, 1, y.F32, nil)
			case tc.packed:
				conv2D(g, x.F32, f.F32, tc.o, y.F32, nil, gemm.PackB(tc.k*tc.k*tc.c, tc.o, f.F32, tc.o))
			default:
				conv2D(g, x.F32, f.F32, tc.o, y.F32, nil, nil)
			}
			wantF32(t, y, y.Shape, refConv(x, f, tc.s, 1, g.pt, g.pl, g.oh, g.ow, tc.dw)...)
		})
	}
}

// TestConvEpilogue checks conv2D with its epilogue (bias, residual and
// activation in the GEMM's store; sigmoid and swish in a pass after)
// against refConv plus the epilogue written out in float64: channel counts
// with whole 32-wide tiles and an edge, pointwise and im2col convs, packed
// and unpacked filters, on an output of NaN (every value must be written).
func TestConvEpilogue(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []struct {
		name       string
		k, s, c, o int
		act        actKind
		res        bool
		packed     bool
	}{
		{"3x3-bias-relu", 3, 1, 8, 40, actRelu, false, false},
		{"3x3-packed-res-relu6", 3, 1, 8, 64, actRelu6, true, true},
		{"3x3s2-packed-bias", 3, 2, 5, 33, actNone, false, true},
		{"1x1-packed-res-relu", 1, 1, 70, 96, actRelu, true, true},
		{"1x1-relu6", 1, 1, 24, 144, actRelu6, false, false},
		{"1x1-packed-swish", 1, 1, 16, 70, actSwish, false, true},
		{"3x3-res-sigmoid", 3, 1, 8, 40, actSigmoid, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x, f := randT(r, 2, 9, 11, tc.c), randT(r, tc.k, tc.k, tc.c, tc.o)
			g, err := window{sh: tc.s, sw: tc.s, dh: 1, dw: 1, mode: "SAME"}.resolve(x.Shape, tc.k, tc.k)
			if err != nil {
				t.Fatal(err)
			}
			ep := &epilogue{bias: randT(r, tc.o).F32, act: tc.act, beta: 1.5}
			for i := range ep.bias {
				ep.bias[i] *= 8 // ReLU6's upper bound is reached
			}
			if tc.res {
				ep.res = randT(r, g.n*g.oh*g.ow*tc.o).F32
			}
			y := tensor.New(tensor.Float32, g.n, g.oh, g.ow, tc.o)
			for i := range y.F32 {
				y.F32[i] = float32(math.NaN())
			}
			var pb *gemm.PackedB
			if tc.packed {
				pb = gemm.PackB(tc.k*tc.k*tc.c, tc.o, f.F32, tc.o)
			}
			conv2D(g, x.F32, f.F32, tc.o, y.F32, ep, pb)
			want := refConv(x, f, tc.s, 1, g.pt, g.pl, g.oh, g.ow, false)
			for i, v := range want {
				u := float64(v) + float64(ep.bias[i%tc.o])
				if ep.res != nil {
					u += float64(ep.res[i])
				}
				switch tc.act {
				case actRelu:
					u = math.Max(u, 0)
				case actRelu6:
					u = math.Min(math.Max(u, 0), 6)
				case actSwish:
					u *= 1 / (1 + math.Exp(-1.5*u))
				case actSigmoid:
					u = 1 / (1 + math.Exp(-u))
				}
				want[i] = float32(u)
			}
			wantF32(t, y, y.Shape, want...)
		})
	}
}
