package gemm

import (
	"math"
	"math/rand/v2"
	"strings"
	"syscall"
	"testing"
)

// naive is the textbook triple loop in float64, the oracle.
func naive(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) []float32 {
	out := append([]float32(nil), c...)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				ai, bi := i*lda+p, p*ldb+j
				if transA {
					ai = p*lda + i
				}
				if transB {
					bi = j*ldb + p
				}
				av, bv := a[ai], b[bi]
				s += float64(av) * float64(bv)
			}
			cv := 0.0 // beta == 0: C is not read (BLAS), NaN in it is overwritten
			if beta != 0 {
				cv = float64(beta) * float64(c[i*ldc+j])
			}
			out[i*ldc+j] = float32(float64(alpha)*s + cv)
		}
	}
	return out
}

func random(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// paths runs fn once per GEMM path this build can take on this CPU: each
// packed assembly kernel the CPU runs (AVX-512, AVX2) and gonum's fallback.
func paths(t *testing.T, fn func(t *testing.T)) {
	for _, kn := range append(append([]*microKernel(nil), kernels...), nil) {
		t.Run(kernelName(kn), func(t *testing.T) {
			defer func(saved *microKernel) { kern = saved }(kern)
			kern = kn
			fn(t)
		})
	}
}

// check runs Sgemm on random operands of the given shape, stored with
// leading dimensions pad wider than their rows, and compares every value of
// C against the float64 oracle. With beta == 0, C starts as NaN: BLAS does
// not read C then, so no NaN may leak into the result.
func check(t *testing.T, rng *rand.Rand, ta, tb bool, m, n, k, pad int, alpha, beta float32) {
	t.Helper()
	ar, ac, br, bc := m, k, k, n
	if ta {
		ar, ac = k, m
	}
	if tb {
		br, bc = n, k
	}
	lda, ldb, ldc := ac+pad, bc+2*pad, n+3*pad
	a, b, c := random(rng, max(ar, 1)*lda), random(rng, max(br, 1)*ldb), random(rng, m*ldc)
	want := naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	if beta == 0 {
		for i := range c {
			c[i] = float32(math.NaN())
		}
		for i := range want {
			want[i] = float32(math.NaN()) // the padding between rows stays NaN
		}
		zero := make([]float32, len(c))
		want2 := naive(ta, tb, m, n, k, alpha, a, lda, b, ldb, 0, zero, ldc)
		for i := 0; i < m; i++ {
			copy(want[i*ldc:i*ldc+n], want2[i*ldc:i*ldc+n])
		}
	}
	Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
	for i := range c {
		got, w := float64(c[i]), float64(want[i])
		if i%ldc >= n || i/ldc >= m { // padding: must be left untouched
			if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%dx%dx%d transA=%v transB=%v pad=%d: wrote padding C[%d] = %v", m, n, k, ta, tb, pad, i, got)
			}
			continue
		}
		// float32 sums of k terms: error grows like sqrt(k).
		tol := 1e-5 * math.Sqrt(float64(k)+1) * math.Max(1, math.Abs(w))
		if math.IsNaN(got) || math.Abs(got-w) > tol {
			t.Fatalf("%dx%dx%d transA=%v transB=%v pad=%d alpha=%v beta=%v: C[%d,%d] = %v, want %v", m, n, k, ta, tb, pad, alpha, beta, i/ldc, i%ldc, got, w)
		}
	}
}

func TestSgemmAgainstNaive(t *testing.T) {
	paths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 10, 300}, {5, 4, 0}} {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					check(t, rng, ta, tb, sh[0], sh[1], sh[2], 1, 0.5, -2)
				}
			}
		}
	})
}

// TestSgemmEdgeShapes covers the packed path's edges: sizes below, at and
// just past the micro-tiles (6x16, 12x32) and the cache blocks (KC 256,
// MC 144 and 192),
// a k over several KC blocks, last panels of every height (the AVX-512
// kernel's 4-row tail), strided operands, and the alpha/beta cases.
func TestSgemmEdgeShapes(t *testing.T) {
	sizes := []int{1, 5, 12, 17, 33, 63, 65, 129}
	type ab struct{ alpha, beta float32 }
	scales := []ab{{1, 0}, {1, 1}, {-0.75, 0.5}, {0, 2}, {-0.75, 0}}
	paths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		n := 0
		for _, m := range sizes {
			for _, nn := range sizes {
				for _, k := range sizes {
					n++
					ta, tb := n%2 == 1, n%3 == 1
					s := scales[n%len(scales)]
					check(t, rng, ta, tb, m, nn, k, n%3, s.alpha, s.beta)
				}
			}
		}
		for _, sh := range [][3]int{{150, 40, 1000}, {7, 3100, 20}, {289, 33, 257}, {6, 16, 513}, {12, 32, 513}, {200, 70, 300}, {395, 3105, 3}, {5, 4, 0},
			// Last panels of 4 and 8 rows: one and two calls of the 4-row tail kernel.
			{52, 40, 300}, {8, 33, 257}} {
			for _, ta := range []bool{false, true} {
				for _, tb := range []bool{false, true} {
					for _, s := range scales {
						check(t, rng, ta, tb, sh[0], sh[1], sh[2], 2, s.alpha, s.beta)
					}
				}
			}
		}
	})
}

// TestKernelsAgreeBitForBit: every kernel sums each value of C in the same
// order (k ascending within a KC block, blocks ascending, one FMA a term),
// so the zoo's tolerances against TensorFlow hold for all of them alike.
func TestKernelsAgreeBitForBit(t *testing.T) {
	if len(kernels) < 2 {
		t.Skip("this CPU runs fewer than two kernels")
	}
	defer func(saved *microKernel) { kern = saved }(kern)
	rng := rand.New(rand.NewPCG(5, 6))
	for _, ta := range []bool{false, true} {
		m, n, k := 77, 45, 600
		lda := k
		if ta {
			lda = m
		}
		a, b, c0 := random(rng, m*k), random(rng, k*n), random(rng, m*n)
		var first []float32
		for _, kn := range kernels {
			kern = kn
			c := append([]float32(nil), c0...)
			Sgemm(ta, false, m, n, k, 0.5, a, lda, b, n, 1, c, n)
			if first == nil {
				first = c
				continue
			}
			for i := range c {
				if math.Float32bits(c[i]) != math.Float32bits(first[i]) {
					t.Fatalf("transA=%v: %s gives C[%d] = %v, %s %v", ta, kn.name, i, c[i], kernels[0].name, first[i])
				}
			}
		}
	}
}

// TestPickKernel checks GRAFT_GEMM: a kernel this CPU runs is taken, an
// unknown name keeps the fastest one and says so.
func TestPickKernel(t *testing.T) {
	var fastest *microKernel
	if len(kernels) > 0 {
		fastest = kernels[0]
	}
	cases := []struct {
		want     string
		kn       *microKernel
		complain bool
	}{
		{"", fastest, false},
		{"gonum", nil, fastest != nil},
		{"go-avx3", fastest, true},
	}
	for _, kn := range kernels {
		cases = append(cases, struct {
			want     string
			kn       *microKernel
			complain bool
		}{kn.name, kn, false})
	}
	for _, c := range cases {
		kn, msg := pickKernel(c.want)
		if kn != c.kn || (msg != "") != c.complain || (c.complain && !strings.Contains(msg, "GRAFT_GEMM")) {
			t.Errorf("GRAFT_GEMM=%q: got %s and %q, want %s (message: %v)", c.want, kernelName(kn), msg, kernelName(c.kn), c.complain)
		}
	}
}

func TestSgemmShortOperandPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a too-short operand reached BLAS")
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
}

// BenchmarkSgemm times, in GFLOP/s on each assembly kernel (gonum is an
// order of magnitude slower and only a fallback), the head's GEMMs: the
// conv's forward product (im2col rows x filters x 3*3*channels) and its
// weight gradient (col^T act: transposed A), at batch 32 on 7x7x2048
// features, and batch 32 and 256 on 7x7x64; and the fashion_cnn
// backbone's largest conv (6272x32x144).
func BenchmarkSgemm(b *testing.B) {
	for _, sh := range []struct {
		name    string
		transA  bool
		m, n, k int
	}{
		{"head_fwd", false, 1568, 256, 18432},
		{"head_dw", true, 18432, 256, 1568},
		{"head64_fwd", false, 1568, 256, 576},
		{"head64_dw", true, 576, 256, 1568},
		{"head64_b256_fwd", false, 12544, 256, 576},
		{"head64_b256_dw", true, 576, 256, 12544},
		{"fashion_conv", false, 6272, 32, 144},
	} {
		for _, kn := range kernels {
			b.Run(sh.name+"/"+kernelName(kn), func(b *testing.B) {
				defer func(saved *microKernel) { kern = saved }(kern)
				kern = kn
				m, n, k := sh.m, sh.n, sh.k
				lda := k
				if sh.transA {
					lda = m
				}
				rng := rand.New(rand.NewPCG(1, 2))
				a, bb, c := random(rng, m*k), random(rng, k*n), make([]float32, m*n)
				b.ResetTimer()
				cpu0 := cpuTime()
				for i := 0; i < b.N; i++ {
					Sgemm(sh.transA, false, m, n, k, 1, a, lda, bb, n, 0, c, n)
				}
				flop := 2 * float64(m) * float64(n) * float64(k) * float64(b.N)
				b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				// Per CPU-second: on a machine shared with other jobs the
				// wall-clock rate swings with their load, this much less.
				b.ReportMetric(flop/(cpuTime()-cpu0)/1e9, "GFLOP/cpu-s")
			})
		}
	}
}

// cpuTime is the process's user+system CPU time in seconds.
func cpuTime() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return math.NaN()
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// FuzzSgemm checks random shapes, transposes, strides and scales against
// the oracle on every path (go test -fuzz FuzzSgemm -fuzztime 1m; not in CI).
func FuzzSgemm(f *testing.F) {
	f.Add(uint8(7), uint8(17), uint8(65), uint8(1), uint8(0), uint64(1))
	f.Fuzz(func(t *testing.T, m, n, k, flags, pad uint8, seed uint64) {
		if m == 0 || n == 0 {
			t.Skip("empty product")
		}
		rng := rand.New(rand.NewPCG(seed, 7))
		scales := [][2]float32{{1, 0}, {1, 1}, {-0.75, 0.5}, {0, 2}, {-0.75, 0}}
		s := scales[int(flags>>2)%len(scales)]
		paths(t, func(t *testing.T) {
			check(t, rng, flags&1 == 1, flags&2 == 2, int(m), int(n), int(k)*3, int(pad%5), s[0], s[1])
		})
	})
}

// PackedB.MulAdd against the naive C + A*B, and MulSet and MulSetSerial
// against A*B on a C of NaN (they must not read C), over shapes that span several KC and NC
// blocks and partial panels, on every path (without the assembly, PackedB
// keeps B as it is and calls Sgemm).
func TestPackedBAgainstNaive(t *testing.T) {
	paths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, sh := range [][3]int{{1, 1, 1}, {17, 33, 300}, {150, 40, 1000}, {7, 3100, 20}, {13, 5, 513}, {24, 64, 16},
			// Few rows, many columns: the column split (49: a 7x7 map).
			{49, 300, 600}, {5, 1000, 700}, {256, 96, 2000}} {
			for _, mode := range []string{"add", "set", "serial", "rows"} {
				set := mode == "set" || mode == "serial"
				m, n, k := sh[0], sh[1], sh[2]
				lda, ldb, ldc := k+1, n+2, n+3
				a, b, c := random(rng, m*lda), random(rng, k*ldb), random(rng, m*ldc)
				p := PackB(k, n, b, ldb)
				if mode == "rows" { // packed a block of rows at a time, from a scratch copy, into reused memory
					p = ReuseB(PackB(k, n, random(rng, k*ldb), ldb), k, n)
					for p0 := 0; p0 < k; p0 += p.RowBlock() {
						kb := min(p.RowBlock(), k-p0)
						block := append([]float32(nil), b[p0*ldb:(p0+kb-1)*ldb+n]...)
						p.SetRows(p0, kb, block, ldb)
						clear(block)
					}
				}
				beta := float32(1)
				if set {
					beta = 0
					for i := range c {
						if i%ldc < n {
							c[i] = float32(math.NaN())
						}
					}
				}
				want := naive(false, false, m, n, k, 1, a, lda, b, ldb, beta, c, ldc)
				pad := append([]float32(nil), c...)
				switch mode {
				case "add", "rows":
					p.MulAdd(m, a, lda, c, ldc)
				case "set":
					p.MulSet(m, a, lda, c, ldc, nil)
				default:
					p.MulSetSerial(m, a, lda, c, ldc)
				}
				for i := range c {
					if i%ldc >= n {
						if c[i] != pad[i] {
							t.Fatalf("%dx%dx%d %s: wrote padding C[%d]", m, n, k, mode, i)
						}
						continue
					}
					if tol := 1e-5 * math.Sqrt(float64(k)+1) * math.Max(1, math.Abs(float64(want[i]))); !(math.Abs(float64(c[i]-want[i])) <= tol) {
						t.Fatalf("%dx%dx%d %s: C[%d,%d] = %v, want %v", m, n, k, mode, i/ldc, i%ldc, c[i], want[i])
					}
				}
			}
		}
	})
}

// TestPackedBytes checks the plan's figure against what PackB really
// allocates (its blocks' capacities), on every kernel this CPU runs and
// on shapes that end a panel or an NC block part-way; without a packed
// kernel PackB copies nothing.
func TestPackedBytes(t *testing.T) {
	defer func(saved *microKernel) { kern = saved }(kern)
	for _, kn := range append([]*microKernel{nil}, kernels...) {
		kern = kn
		for _, s := range [][2]int{{1, 1}, {576, 64}, {300, 33}, {257, 3100}, {9, 7000}} {
			k, n := s[0], s[1]
			var got int64
			for _, b := range PackB(k, n, make([]float32, k*n), n).blocks {
				got += 4 * int64(cap(b))
			}
			if want := PackedBytes(k, n); got != want {
				t.Errorf("%s, %d x %d: PackB allocated %d bytes; PackedBytes says %d", kernelName(kn), k, n, got, want)
			}
		}
	}
}
