package native

import (
	"context"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// BenchmarkConv2D reports the convolution's GFLOP/s (2*M*N*K per run, M =
// output pixels, N = output channels, K = kh*kw*in_channels) and, in the
// same run, gemm.Sgemm's GFLOP/s on the conv's GEMM shape: the gap is the
// im2col overhead.
func BenchmarkConv2D(b *testing.B) {
	cases := []struct {
		name                string
		n, h, w, c, k, o, s int
	}{
		{"3x3-56x56x64-64-b4", 4, 56, 56, 64, 3, 64, 1},
		{"3x3s2-28x28x128-256-b4", 4, 28, 28, 128, 3, 256, 2},
		{"1x1-14x14x256-1024-b4", 4, 14, 14, 256, 1, 1024, 1},
		// The fixtures' layers (testdata/models): few channels, batch 32.
		{"3x3-28x28x1-16-b32", 32, 28, 28, 1, 3, 16, 1},
		{"3x3-14x14x16-32-b32", 32, 14, 14, 16, 3, 32, 1},
		{"3x3-7x7x32-64-b32", 32, 7, 7, 32, 3, 64, 1},
	}
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			x, f := randT(r, c.n, c.h, c.w, c.c), randT(r, c.k, c.k, c.c, c.o)
			def := nodeDef("conv", "Conv2D", []string{"x", "f"}, convAttrs("SAME", int64(c.s), 1))
			k, err := compile(def, 2, nil)
			if err != nil {
				b.Fatal(err)
			}
			nd := &node{def: def, k: k}
			in := []*tensor.Tensor{x, f}
			out, err := runNode(nd, in, nil)
			if err != nil {
				b.Fatal(err)
			}
			m, kk, n := out[0].Len()/c.o, c.k*c.k*c.c, c.o
			flop := 2 * float64(m) * float64(n) * float64(kk)
			b.ResetTimer()
			for range b.N {
				if _, err := runNode(nd, in, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")

			a, bb, cc := make([]float32, m*kk), f.F32, make([]float32, m*n)
			for i := range a {
				a[i] = r.Float32()
			}
			start := time.Now()
			for range b.N {
				gemm.Sgemm(false, false, m, n, kk, 1, a, kk, bb, n, 0, cc, n)
			}
			b.ReportMetric(flop*float64(b.N)/time.Since(start).Seconds()/1e9, "sgemm-GFLOP/s")
		})
	}
}

// BenchmarkModel runs the SavedModel named by GRAFT_BENCH_MODEL (a folder,
// e.g. one written by scripts/zoo/gen.py --size 224) at
// GRAFT_BENCH_BATCH images (default 32), for CPU profiles of whole
// backbones: go test -run - -bench Model -cpuprofile cpu.out.
func BenchmarkModel(b *testing.B) {
	dir := os.Getenv("GRAFT_BENCH_MODEL")
	if dir == "" {
		b.Skip("GRAFT_BENCH_MODEL is not set")
	}
	batch := 32
	if s := os.Getenv("GRAFT_BENCH_BATCH"); s != "" {
		var err error
		if batch, err = strconv.Atoi(s); err != nil {
			b.Fatal(err)
		}
	}
	bb, err := Open(dir, Options{})
	if err != nil {
		b.Fatal(err)
	}
	shape := slices.Clone(bb.Input().Shape)
	shape[0] = batch
	x := randT(rand.New(rand.NewPCG(1, 2)), shape...)
	b.ResetTimer()
	for range b.N {
		if _, err := bb.Features(context.Background(), x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
	if os.Getenv("GRAFT_BENCH_OPS") != "" {
		logOpShares(b, bb, x)
	}
}

// logOpShares logs each op kind's share of a profiled run (GRAFT_BENCH_OPS
// set), to see what runs outside the convolutions.
func logOpShares(b *testing.B, bb *Backbone, x *tensor.Tensor) {
	byOp := map[string]time.Duration{}
	var total time.Duration
	for range 5 {
		_, prof, err := bb.Profile(context.Background(), x)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range prof {
			byOp[r.Op] += r.Time
			total += r.Time
		}
	}
	ops := slices.Collect(maps.Keys(byOp))
	slices.SortFunc(ops, func(p, q string) int { return int(byOp[q] - byOp[p]) })
	for _, op := range ops {
		b.Logf("%-28s %5.1f%%", op, 100*float64(byOp[op])/float64(total))
	}
}

// BenchmarkConvEpilogue times a pointwise conv's GEMM with its epilogue
// applied in the GEMM's store (gemm.Epilogue: what conv2D does) against
// the same GEMM followed by a pass over each block of rows while it is in
// cache (epilogue.apply, what conv2D did before, blocks split across
// workers as it did), alternated within each
// iteration so both see the same machine: store/pass is the same-run
// ratio. Shapes are MobileNetV2's and ResNet50's at batch 32 and 1.
func BenchmarkConvEpilogue(b *testing.B) {
	cases := []struct {
		name    string
		m, k, o int
		act     actKind
		res     bool
	}{
		{"mnv2-expand-28x28x32-192-relu6-b32", 32 * 28 * 28, 32, 192, actRelu6, false},
		{"mnv2-project-28x28x144-32-b32", 32 * 28 * 28, 144, 32, actNone, false},
		{"mnv2-expand-56x56x24-144-relu6-b1", 56 * 56, 24, 144, actRelu6, false},
		{"rn50-56x56x64-256-res-relu-b32", 32 * 56 * 56, 64, 256, actRelu, true},
		{"rn50-14x14x256-1024-res-relu-b32", 32 * 14 * 14, 256, 1024, actRelu, true},
		{"rn50-7x7x512-2048-res-relu-b1", 7 * 7, 512, 2048, actRelu, true},
	}
	r := rand.New(rand.NewPCG(5, 6))
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			x, f := randT(r, c.m, c.k), randT(r, c.k, c.o)
			ep := &epilogue{bias: randT(r, c.o).F32, act: c.act}
			if c.res {
				ep.res = randT(r, c.m, c.o).F32
			}
			pb := gemm.PackB(c.k, c.o, f.F32, c.o)
			y := make([]float32, c.m*c.o)
			rows := max(minRows, pointwiseRows/c.o)
			var store, pass time.Duration
			for range b.N {
				t0 := time.Now()
				pb.MulSet(c.m, x.F32, c.k, y, c.o, ep.gemmAt(0, c.o))
				t1 := time.Now()
				parallel.For(c.m, rows, func(lo, hi int) {
					for r0 := lo; r0 < hi; r0 += rows {
						r1 := min(r0+rows, hi)
						pb.MulSet(r1-r0, x.F32[r0*c.k:], c.k, y[r0*c.o:], c.o, nil)
						ep.apply(y, c.o, r0, r1)
					}
				})
				store, pass = store+t1.Sub(t0), pass+time.Since(t1)
			}
			b.ReportMetric(float64(store.Nanoseconds())/float64(b.N), "store-ns/op")
			b.ReportMetric(float64(pass.Nanoseconds())/float64(b.N), "pass-ns/op")
			b.ReportMetric(store.Seconds()/pass.Seconds(), "store/pass")
		})
	}
}
