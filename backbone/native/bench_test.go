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
