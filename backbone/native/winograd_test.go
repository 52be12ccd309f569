package native

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/winograd"
)

// directConv64 is an independent 3x3, stride-1 convolution in float64:
// out[n,oy,ox,o] sums x[n, oy-pt+ky, ox-pl+kx, c] * f[ky,kx,c,o] over the
// taps inside the image.
func directConv64(g geom, x, f []float32, o int) []float64 {
	out := make([]float64, g.n*g.oh*g.ow*o)
	for n := range g.n {
		for oy := range g.oh {
			for ox := range g.ow {
				acc := out[((n*g.oh+oy)*g.ow+ox)*o:][:o]
				for ky := range 3 {
					for kx := range 3 {
						iy, ix := oy-g.pt+ky, ox-g.pl+kx
						if iy < 0 || iy >= g.h || ix < 0 || ix >= g.w {
							continue
						}
						for c := range g.c {
							v := float64(x[((n*g.h+iy)*g.w+ix)*g.c+c])
							for k := range acc {
								acc[k] += v * float64(f[((ky*3+kx)*g.c+c)*o+k])
							}
						}
					}
				}
			}
		}
	}
	return out
}

// winoErr is max |y - ref| over max |ref|, +Inf where y holds a NaN (an
// output never written: y is NaN-filled first).
func winoErr(y []float32, ref []float64) float64 {
	worst, big := 0.0, 0.0
	for i, r := range ref {
		d := math.Abs(float64(y[i]) - r)
		if math.IsNaN(d) {
			return math.Inf(1)
		}
		worst, big = max(worst, d), max(big, math.Abs(r))
	}
	return worst / max(big, 1e-30)
}

var winoCases = []struct {
	n, h, w, c, o int
	win           window
}{
	{1, 5, 7, 3, 5, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}},    // odd sizes, few channels
	{2, 9, 6, 16, 20, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "VALID"}}, // O not a multiple of 16
	{3, 8, 8, 32, 16, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}},
	{1, 1, 1, 16, 16, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}}, // one pixel, all padding
	{2, 13, 11, 48, 64, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}},
	{1, 6, 10, 20, 32, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "EXPLICIT", explicit: [4]int{2, 0, 0, 1}}},
	{2, 14, 14, 64, 80, window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}},
}

// TestWinogradMatchesDirect runs winoConv with both tile sizes, on the
// vector loop and the Go loop, with blocks of one tile row (a worker each)
// and of many (shared by the workers), against directConv64 on NaN-filled
// outputs.
func TestWinogradMatchesDirect(t *testing.T) {
	defer func(goLoop bool, budget, minTiles int) {
		winograd.PureGo, winoBudget, winoMinTiles = goLoop, budget, minTiles
	}(winograd.PureGo, winoBudget, winoMinTiles)
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range winoCases {
		x, f := randT(r, tc.n, tc.h, tc.w, tc.c), randT(r, 3, 3, tc.c, tc.o)
		g, err := tc.win.resolve(x.Shape, 3, 3)
		if err != nil {
			t.Fatal(err)
		}
		ref := directConv64(g, x.F32, f.F32, tc.o)
		for _, w := range []*winograd.Mats{winograd.F2, winograd.F4} {
			for _, mode := range []struct {
				goLoop bool
				budget int
			}{{false, 1 << 19}, {true, 1 << 19}, {false, 1}} {
				// A budget of 1 makes a block of each tile row, run by
				// one worker each; the default, one block shared by all.
				winograd.PureGo, winoBudget, winoMinTiles = mode.goLoop, mode.budget, min(mode.budget, 48)
				name := fmt.Sprintf("%v-%s-F%d-go=%v-budget=%d", x.Shape, tc.win.mode, w.M, mode.goLoop, mode.budget)
				y := make([]float32, len(ref))
				for i := range y {
					y[i] = float32(math.NaN())
				}
				winoConv(w, g, x.F32, winoFilterTransform(w, f.F32, tc.c, tc.o), tc.o, y, nil)
				// F(4x4)'s transforms round more (measured ~7x F(2x2)'s);
				// both stay well under the zoo's 1e-4 for a whole network.
				tol := 2e-6
				if w.M == 4 {
					tol = 8e-6
				}
				if e := winoErr(y, ref); !(e <= tol) {
					t.Errorf("%s: relative error %.3g, want <= %.0g", name, e, tol)
				}
			}
		}
	}
}

// TestWinogradErrorByPoints logs F(4x4)'s error for two sets of points
// (the reason winograd.F4 uses 0, +-1, 1/2, -2) and F(2x2)'s, on a ResNet-like
// layer, and checks that the kept points do better than Lavin's.
func TestWinogradErrorByPoints(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	x, f := randT(r, 1, 14, 14, 256), randT(r, 3, 3, 256, 32)
	g, err := window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}.resolve(x.Shape, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref := directConv64(g, x.F32, f.F32, 32)
	errOf := func(w *winograd.Mats) float64 {
		y := make([]float32, len(ref))
		winoConv(w, g, x.F32, winoFilterTransform(w, f.F32, 256, 32), 32, y, nil)
		return winoErr(y, ref)
	}
	lavin := winograd.CookToom([]float64{0, 1, -1, 2, -2})
	e2, e4, eLavin := errOf(winograd.F2), errOf(winograd.F4), errOf(lavin)
	t.Logf("relative error: F(2x2) %.3g, F(4x4) 0,+-1,1/2,-2 %.3g, F(4x4) 0,+-1,+-2 %.3g", e2, e4, eLavin)
	if !(e4 < eLavin) || !(e2 < e4) {
		t.Errorf("relative error F(2x2) %.3g, F(4x4) %.3g, Lavin's F(4x4) %.3g: want them in increasing order", e2, e4, eLavin)
	}
}

// TestFusedConvWinograd runs a fused 3x3 convolution (bias, residual,
// ReLU) through fusedConvKernel, where Winograd is hooked in, against
// directConv64 plus the epilogue, with Winograd forced on and off.
func TestFusedConvWinograd(t *testing.T) {
	defer func(env string) { winoEnv = env }(winoEnv)
	r := rand.New(rand.NewPCG(11, 12))
	x, f, res, bias := randT(r, 2, 9, 9, 32), randT(r, 3, 3, 32, 48), randT(r, 2, 9, 9, 48), randT(r, 48)
	win := window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}
	g, err := win.resolve(x.Shape, 3, 3)
	if err != nil {
		t.Fatal(err)
	}
	ref := directConv64(g, x.F32, f.F32, 48)
	for i := range ref {
		ref[i] = max(0, ref[i]+float64(res.F32[i])+float64(bias.F32[i%48]))
	}
	for _, env := range []string{"0", "2", "4", ""} {
		winoEnv = env
		k := fusedConvKernel(&convSpec{w: win, f: f, ep: epilogue{bias: bias.F32, act: actRelu}, resid: true})
		if (env == "0") != (newWinoFilter(win, f) == nil) {
			t.Fatalf("GRAFT_NATIVE_WINOGRAD=%q: Winograd filter %v", env, newWinoFilter(win, f))
		}
		in := []*tensor.Tensor{x, res}
		out, err := k.shape([]tinfo{infoOf(x), infoOf(res)})
		if err != nil {
			t.Fatal(err)
		}
		y, err := k.run(in, out)
		if err != nil {
			t.Fatal(err)
		}
		if e := winoErr(y[0].F32, ref); !(e <= 1e-5) {
			t.Errorf("GRAFT_NATIVE_WINOGRAD=%q: relative error %.3g", env, e)
		}
	}
}

// BenchmarkWinograd compares, per ResNet50 3x3 layer shape and batch,
// im2col + GEMM against F(2x2) and F(4x4), in direct-convolution GFLOP/s
// (2*M*O*9*C per run for all three, so the ratios are the speedups).
func BenchmarkWinograd(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ hw, c int }{{56, 64}, {28, 128}, {14, 256}, {7, 512}} {
		for _, n := range []int{1, 32} {
			x, f := randT(r, n, s.hw, s.hw, s.c), randT(r, 3, 3, s.c, s.c)
			g, err := window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}.resolve(x.Shape, 3, 3)
			if err != nil {
				b.Fatal(err)
			}
			y := make([]float32, n*s.hw*s.hw*s.c)
			pb := gemm.PackB(9*s.c, s.c, f.F32, s.c)
			flop := 2 * float64(len(y)) * float64(9*s.c)
			run := map[string]func(){"im2col": func() { conv2D(g, x.F32, f.F32, s.c, y, nil, pb) }}
			for _, w := range []*winograd.Mats{winograd.F2, winograd.F4} {
				u := winoFilterTransform(w, f.F32, s.c, s.c)
				run[fmt.Sprintf("F%d", w.M)] = func() { winoConv(w, g, x.F32, u, s.c, y, nil) }
			}
			for _, name := range []string{"im2col", "F2", "F4"} {
				b.Run(fmt.Sprintf("%dx%dx%d-b%d-%s", s.hw, s.hw, s.c, n, name), func(b *testing.B) {
					for range b.N {
						run[name]()
					}
					b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
			}
		}
	}
}

// TestWinogradTiming (GRAFT_WINO_TIMING=1; no assertions) times, per
// ResNet50 3x3 layer shape and batch, im2col + GEMM, F(2x2) and F(4x4)
// alternated in rounds, and logs each one's median time over im2col's in
// the same round, with the range: the numbers behind winoPick.
func TestWinogradTiming(t *testing.T) {
	if os.Getenv("GRAFT_WINO_TIMING") == "" {
		t.Skip("set GRAFT_WINO_TIMING=1 to time")
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, s := range []struct{ hw, c int }{{56, 64}, {28, 128}, {14, 256}, {7, 512}} {
		for _, n := range []int{1, 2, 4, 32} {
			if n != 1 && n != 32 && s.hw != 7 {
				continue
			}
			x, f := randT(r, n, s.hw, s.hw, s.c), randT(r, 3, 3, s.c, s.c)
			g, err := window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}.resolve(x.Shape, 3, 3)
			if err != nil {
				t.Fatal(err)
			}
			y := make([]float32, n*s.hw*s.hw*s.c)
			pb := gemm.PackB(9*s.c, s.c, f.F32, s.c)
			run := []func(){func() { conv2D(g, x.F32, f.F32, s.c, y, nil, pb) }}
			for _, w := range []*winograd.Mats{winograd.F2, winograd.F4} {
				u := winoFilterTransform(w, f.F32, s.c, s.c)
				run = append(run, func() { winoConv(w, g, x.F32, u, s.c, y, nil) })
			}
			reps := max(1, 20/n)
			ratios := make([][]float64, len(run))
			for range 5 {
				var base float64
				for i, fn := range run {
					fn()
					start := time.Now()
					for range reps {
						fn()
					}
					d := time.Since(start).Seconds()
					if i == 0 {
						base = d
					}
					ratios[i] = append(ratios[i], d/base)
				}
			}
			line := fmt.Sprintf("%dx%dx%d b%d time/im2col:", s.hw, s.hw, s.c, n)
			for i, name := range []string{"F2", "F4"} {
				q := slices.Sorted(slices.Values(ratios[i+1]))
				line += fmt.Sprintf(" %s %.2f (%.2f-%.2f)", name, q[len(q)/2], q[0], q[len(q)-1])
			}
			t.Log(line)
		}
	}
}

// TestWinogradModelTiming (GRAFT_WINO_MODEL=a SavedModel folder,
// GRAFT_WINO_BATCH=n, default 1; no assertions) runs the model's forward
// pass with Winograd on and off alternately, one model opened once, and
// logs the median and range of on/off time over the rounds: an A/B that
// a loaded machine's drift hits both sides of alike.
func TestWinogradModelTiming(t *testing.T) {
	dir := os.Getenv("GRAFT_WINO_MODEL")
	if dir == "" {
		t.Skip("set GRAFT_WINO_MODEL to a SavedModel folder to time")
	}
	defer func(env string) { winoEnv = env }(winoEnv)
	batch := 1
	if s := os.Getenv("GRAFT_WINO_BATCH"); s != "" {
		fmt.Sscan(s, &batch)
	}
	bb, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	shape := slices.Clone(bb.Input().Shape)
	shape[0] = batch
	x := randT(rand.New(rand.NewPCG(1, 2)), shape...)
	forward := func(env string) float64 {
		winoEnv = env
		start := time.Now()
		if _, err := bb.Features(context.Background(), x); err != nil {
			t.Fatal(err)
		}
		return time.Since(start).Seconds()
	}
	forward("1") // transforms the filters
	forward("0")
	var ratios []float64
	on, off := 0.0, 0.0
	for r := range 7 {
		a, b := 0.0, 0.0
		if r%2 == 0 {
			a, b = forward("1"), forward("0")
		} else {
			b, a = forward("0"), forward("1")
		}
		ratios, on, off = append(ratios, a/b), on+a, off+b
	}
	slices.Sort(ratios)
	t.Logf("batch %d: Winograd on/off time %.2f (range %.2f-%.2f over %d rounds); mean ms/image on %.1f, off %.1f",
		batch, ratios[len(ratios)/2], ratios[0], ratios[len(ratios)-1], len(ratios), 1e3*on/7/float64(batch), 1e3*off/7/float64(batch))
}

// TestWinogradEnvRejected: a GRAFT_NATIVE_WINOGRAD that names no mode
// fails New with a message that lists the modes, where it would otherwise
// run the default rule unnoticed.
func TestWinogradEnvRejected(t *testing.T) {
	defer func(env string) { winoEnv = env }(winoEnv)
	g := graphOf([]*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32), "shape": aShape(-1, 2)}),
		nodeDef("y", "Neg", []string{"x"}, nil),
	}, nil, []string{"x"}, []string{"y:0"})
	for _, tc := range []struct {
		env string
		ok  bool
	}{{"", true}, {"0", true}, {"1", true}, {"2", true}, {"4", true}, {"yes", false}, {"3", false}, {"off", false}} {
		winoEnv = tc.env
		_, err := New(g)
		if tc.ok != (err == nil) || (err != nil && !strings.Contains(err.Error(), "GRAFT_NATIVE_WINOGRAD")) {
			t.Errorf("GRAFT_NATIVE_WINOGRAD=%q: error %v", tc.env, err)
		}
	}
}

// TestWinogradBatchInvariant: the algorithm chosen does not depend on the
// batch, and an image's output is the same bits at batch 1 as inside a
// batch of 3 (gemm.BatchInvariant's promise, which the features cache
// relies on; with OpenBLAS, which promises no such thing, within rounding),
// for both tile sizes and block shapes, with channel counts on
// and off the vector loop.
func TestWinogradBatchInvariant(t *testing.T) {
	defer func(budget, minTiles int) { winoBudget, winoMinTiles = budget, minTiles }(winoBudget, winoMinTiles)
	r := rand.New(rand.NewPCG(13, 14))
	win := window{sh: 1, sw: 1, dh: 1, dw: 1, mode: "SAME"}
	// The choice first: the same at every batch.
	for _, hw := range []int{5, 7, 8, 11, 14, 56} {
		pick := func(n int) *winograd.Mats {
			g, err := win.resolve([]int{n, hw, hw, 64}, 3, 3)
			if err != nil {
				t.Fatal(err)
			}
			return winoPick(g)
		}
		for _, n := range []int{2, 3, 32} {
			if pick(n) != pick(1) {
				t.Errorf("%dx%d: winoPick differs at batch %d and 1", hw, hw, n)
			}
		}
	}
	for _, s := range [][3]int{{9, 16, 5}, {10, 12, 6}, {10, 12, 20}, {14, 32, 48}} { // hw, c, o
		hw, c, o := s[0], s[1], s[2]
		x, f := randT(r, 3, hw, hw, c), randT(r, 3, 3, c, o)
		for _, w := range []*winograd.Mats{winograd.F2, winograd.F4} {
			u := winoFilterTransform(w, f.F32, c, o)
			// One block, a block per tile row, and blocks of two tile rows
			// (10 tiles: F(2x2) on 10x10), which group an image's rows
			// differently at batch 3 than alone.
			for _, mode := range [][2]int{{1 << 19, 48}, {1, 1}, {1, 10}} {
				winoBudget, winoMinTiles = mode[0], mode[1]
				run := func(x []float32, n int) []float32 {
					g, err := win.resolve([]int{n, hw, hw, c}, 3, 3)
					if err != nil {
						t.Fatal(err)
					}
					y := make([]float32, n*hw*hw*o)
					winoConv(w, g, x, u, o, y, nil)
					return y
				}
				all, img := run(x.F32, 3), hw*hw
				for i := range 3 {
					one := run(x.F32[i*img*c:(i+1)*img*c], 1)
					for j, v := range one {
						got := all[i*img*o+j]
						same := math.Float32bits(got) == math.Float32bits(v)
						if !gemm.BatchInvariant { // OpenBLAS blocks by the matrix's size: within rounding
							same = math.Abs(float64(got-v)) <= 1e-5*(1+math.Abs(float64(v)))
						}
						if !same {
							t.Fatalf("%dx%dx%d->%d F%d blocks %v: image %d value %d is %v in the batch, %v alone", hw, hw, c, o, w.M, mode, i, j, got, v)
						}
					}
				}
			}
		}
	}
}
