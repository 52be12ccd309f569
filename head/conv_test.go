package head

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/internal/util/gemm"
)

// TestTapRunsCoverEveryValidPair checks the runs against counting by hand:
// along an axis of n pixels a same-padded kernel of k taps has n*k - 2*sum
// (1..k/2) in-bounds (pixel, tap) pairs, minus what falls off a map
// smaller than the kernel; every pair must be in exactly one run.
func TestTapRunsCoverEveryValidPair(t *testing.T) {
	for _, c := range []struct{ h, w, k, pairs int }{
		{7, 7, 3, 19 * 19}, // 7*3-2 per axis
		{7, 7, 1, 49},
		{5, 3, 5, 19 * 9}, // rows: 5*5-2*(1+2); cols: 3 pixels see 3 taps each
		{1, 1, 3, 1},
		{14, 14, 3, 40 * 40},
	} {
		seen := map[[3]int]int{}
		for _, r := range tapRuns(c.h, c.w, c.k) {
			for i := 0; i < r.pixels(); i++ {
				y, x := r.out/c.w+i/r.width, r.out%c.w+i%r.width
				sy, sx := r.in/c.w+i/r.width, r.in%c.w+i%r.width
				dy, dx := r.tap/c.k, r.tap%c.k
				if sy != y+dy-c.k/2 || sx != x+dx-c.k/2 || sy < 0 || sy >= c.h || sx < 0 || sx >= c.w {
					t.Fatalf("%+v: run %+v maps output (%d,%d) to input (%d,%d) for tap (%d,%d)", c, r, y, x, sy, sx, dy, dx)
				}
				seen[[3]int{y, x, r.tap}]++
			}
		}
		if len(seen) != c.pairs {
			t.Errorf("%dx%d k%d: %d (pixel, tap) pairs, want %d", c.h, c.w, c.k, len(seen), c.pairs)
		}
		for key, n := range seen {
			if n != 1 {
				t.Errorf("%dx%d k%d: pair %v in %d runs", c.h, c.w, c.k, key, n)
			}
		}
	}
}

// TestConvAgainstDirectLoops runs the im2col-free convolution and its
// weight gradient against the textbook six nested loops in float64, on
// shuffled and repeated sample indices and on shapes whose sizes are not
// multiples of the GEMM's tiles.
func TestConvAgainstDirectLoops(t *testing.T) {
	for _, c := range []struct {
		name           string
		h, w, ch, f, k int
		idx            []int32
	}{
		{"7x7-k3", 7, 7, 37, 45, 3, []int32{3, 0, 3, 5, 1}},
		{"5x3-k5", 5, 3, 20, 33, 5, []int32{2, 2}},
		{"1x1-k3", 1, 1, 13, 7, 3, []int32{1, 0, 4}},
		{"4x6-k1", 4, 6, 64, 32, 1, []int32{5, 4, 3, 2, 1, 0}},
		{"6x6-k3-batch13", 6, 6, 16, 40, 3, []int32{0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 0}},
		{"7x7-k3-vector-widths", 7, 7, 64, 32, 3, []int32{1, 0, 2, 4}}, // Winograd's transforms on their vector loops
	} {
		for _, run := range []struct {
			way  string // "", "taps" or "winograd": how conv.go convolves
			prec Precision
		}{{"", PrecisionFP32}, {"taps", PrecisionFP32}, {"winograd", PrecisionFP32}, {"", PrecisionBF16}, {"taps", PrecisionBF16}} {
			bf16 := run.prec == PrecisionBF16
			t.Run(fmt.Sprintf("%s/%s/%s", c.name, run.way, run.prec), func(t *testing.T) {
				o, err := NewCPUOpsAt(run.prec)
				if err != nil {
					t.Skip(err)
				}
				// In bf16 the GEMMs' inputs (features, kernel and the
				// pre-activation gradient) are rounded, their sums float32:
				// the loops below round the same inputs, the same bound holds.
				rnd := func(v float32) float64 {
					if bf16 {
						return float64(gemm.RoundBF16(v))
					}
					return float64(v)
				}
				defer convolveBy(run.way)()
				spec := Spec{Height: c.h, Width: c.w, Channels: c.ch, Kind: KindConv, Filters: c.f, Kernel: c.k, Classes: 2}
				rng := rand.New(rand.NewPCG(7, uint64(c.h*100+c.k)))
				fill := func(n int) []float32 {
					x := make([]float32, n)
					for i := range x {
						x[i] = float32(rng.NormFloat64())
					}
					return x
				}
				feats := fill(6 * spec.FeatureSize())
				kernel, bias := fill(c.k*c.k*c.ch*c.f), fill(c.f)
				b, hw := len(c.idx), c.h*c.w
				dAct := fill(hw * b * c.f) // [H*W][b][F], as the backward pass has it

				act := make([]float32, hw*b*c.f)
				o.convForward(spec, kernel, bias, feats, c.idx, act)
				dKernel := fill(len(kernel)) // garbage the gradient must overwrite
				o.convWeightGrad(spec, b, dAct, dKernel)

				pad := c.k / 2
				in := func(i, y, x, ci int) float64 {
					if y < 0 || y >= c.h || x < 0 || x >= c.w {
						return 0
					}
					return rnd(feats[int(c.idx[i])*spec.FeatureSize()+(y*c.w+x)*c.ch+ci])
				}
				wantK := make([]float64, len(kernel))
				var worst, worstK float64
				for i := 0; i < b; i++ {
					for y := 0; y < c.h; y++ {
						for x := 0; x < c.w; x++ {
							row := (y*c.w+x)*b + i
							for fo := 0; fo < c.f; fo++ {
								sum := float64(bias[fo])
								for dy := 0; dy < c.k; dy++ {
									for dx := 0; dx < c.k; dx++ {
										for ci := 0; ci < c.ch; ci++ {
											v := in(i, y+dy-pad, x+dx-pad, ci)
											w := ((dy*c.k+dx)*c.ch+ci)*c.f + fo
											sum += v * rnd(kernel[w])
											wantK[w] += v * rnd(dAct[row*c.f+fo])
										}
									}
								}
								worst = max(worst, math.Abs(float64(act[row*c.f+fo])-sum))
							}
						}
					}
				}
				for j, w := range wantK {
					worstK = max(worstK, math.Abs(float64(dKernel[j])-w))
				}
				// float32 sums of k*k*C (forward) or H*W*b (gradient) unit
				// normals: errors of a few 1e-5 at most.
				bound := 1e-4
				if run.way == "winograd" && c.k == 3 {
					// F(4x4)'s transforms scale values by up to 4 and
					// cancel them again: a few times the direct sums' error.
					bound = 4e-4
				}
				t.Logf("largest error: activations %.3g, kernel gradient %.3g", worst, worstK)
				if worst > bound || worstK > bound {
					t.Errorf("largest error: activations %.3g, kernel gradient %.3g; bound %.3g", worst, worstK, bound)
				}
			})
		}
	}
}
