package gemm

import (
	"math"
	"math/rand/v2"
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
			out[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
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

// paths runs fn once per GEMM path this build can take on this CPU: the
// packed assembly kernel (when the CPU has it) and gonum's fallback.
func paths(t *testing.T, fn func(t *testing.T)) {
	defer func(saved bool) { useAsm = saved }(useAsm)
	for _, asm := range []bool{true, false} {
		if asm && !hasAsm {
			continue
		}
		useAsm = asm
		name := "gonum"
		if asm {
			name = "asm"
		}
		t.Run(name, fn)
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
// just past the micro-tile (6x16) and the cache blocks (KC 256, MC 144),
// a k over several KC blocks, strided operands, and the alpha/beta cases.
func TestSgemmEdgeShapes(t *testing.T) {
	sizes := []int{1, 5, 17, 63, 65, 129}
	type ab struct{ alpha, beta float32 }
	scales := []ab{{1, 0}, {1, 1}, {-0.75, 0.5}, {0, 2}}
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
		for _, sh := range [][3]int{{150, 40, 1000}, {7, 3100, 20}, {289, 33, 257}, {6, 16, 513}, {5, 4, 0}} {
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

func TestSgemmShortOperandPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("a too-short operand reached BLAS")
		}
	}()
	Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
}

// BenchmarkSgemm times the head's conv GEMM (batch 32 on 7x7x2048
// features, 256 filters: 1568x256x18432) and the fashion_cnn backbone's
// largest conv (6272x32x144) on each path, in GFLOP/s.
func BenchmarkSgemm(b *testing.B) {
	for _, sh := range []struct {
		name    string
		m, n, k int
	}{{"head", 1568, 256, 18432}, {"fashion_conv", 6272, 32, 144}} {
		for _, asm := range []bool{true, false} {
			if asm && !hasAsm {
				continue
			}
			name := sh.name + "/gonum"
			if asm {
				name = sh.name + "/asm"
			}
			b.Run(name, func(b *testing.B) {
				defer func(saved bool) { useAsm = saved }(useAsm)
				useAsm = asm
				m, n, k := sh.m, sh.n, sh.k
				rng := rand.New(rand.NewPCG(1, 2))
				a, bb, c := random(rng, m*k), random(rng, k*n), make([]float32, m*n)
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
				}
				b.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
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
		scales := [][2]float32{{1, 0}, {1, 1}, {-0.75, 0.5}, {0, 2}}
		s := scales[int(flags>>2)%len(scales)]
		paths(t, func(t *testing.T) {
			check(t, rng, flags&1 == 1, flags&2 == 2, int(m), int(n), int(k)*3, int(pad%5), s[0], s[1])
		})
	})
}

// PackedB.MulAdd against the naive C + A*B, over shapes that span several KC
// and NC blocks and partial panels; without the assembly path PackB
// declines (nil) so that callers use Sgemm.
func TestPackedBAgainstNaive(t *testing.T) {
	paths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, sh := range [][3]int{{1, 1, 1}, {17, 33, 300}, {150, 40, 1000}, {7, 3100, 20}, {13, 5, 513}} {
			m, n, k := sh[0], sh[1], sh[2]
			lda, ldb, ldc := k+1, n+2, n+3
			a, b, c := random(rng, m*lda), random(rng, k*ldb), random(rng, m*ldc)
			p := PackB(k, n, b, ldb)
			if !useAsm {
				if p != nil {
					t.Fatal("PackB packed without the assembly path")
				}
				return
			}
			want := naive(false, false, m, n, k, 1, a, lda, b, ldb, 1, c, ldc)
			pad := append([]float32(nil), c...)
			p.MulAdd(m, a, lda, c, ldc)
			for i := range c {
				if i%ldc >= n {
					if c[i] != pad[i] {
						t.Fatalf("%dx%dx%d: wrote padding C[%d]", m, n, k, i)
					}
					continue
				}
				if tol := 1e-5 * math.Sqrt(float64(k)+1) * math.Max(1, math.Abs(float64(want[i]))); math.Abs(float64(c[i]-want[i])) > tol {
					t.Fatalf("%dx%dx%d: C[%d,%d] = %v, want %v", m, n, k, i/ldc, i%ldc, c[i], want[i])
				}
			}
		}
	})
}
