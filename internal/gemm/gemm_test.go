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

func TestSgemmAgainstNaive(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, sh := range [][3]int{{1, 1, 1}, {3, 5, 7}, {17, 9, 33}, {64, 10, 300}, {5, 4, 0}} {
		m, n, k := sh[0], sh[1], sh[2]
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				// Stored shapes, with padded leading dimensions that
				// catch stride mistakes.
				ar, lda, br, ldb, ldc := m, k+2, k, n+1, n+3
				if ta {
					ar, lda = k, m+2
				}
				if tb {
					br, ldb = n, k+1
				}
				a, b, c := random(rng, max(ar, 1)*lda), random(rng, max(br, 1)*ldb), random(rng, m*ldc)
				want := naive(ta, tb, m, n, k, 0.5, a, lda, b, ldb, -2, c, ldc)
				Sgemm(ta, tb, m, n, k, 0.5, a, lda, b, ldb, -2, c, ldc)
				for i := 0; i < m; i++ {
					for j := 0; j < n; j++ {
						if d := math.Abs(float64(c[i*ldc+j] - want[i*ldc+j])); d > 1e-4*math.Max(1, math.Abs(float64(want[i*ldc+j]))) {
							t.Fatalf("%s: %dx%dx%d transA=%v transB=%v: C[%d,%d] = %v, want %v", Backend, m, n, k, ta, tb, i, j, c[i*ldc+j], want[i*ldc+j])
						}
					}
				}
			}
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

// BenchmarkSgemmHeadConv times the head's conv GEMM shape (batch 32 on
// 7x7x2048 features, 256 filters: 1568x256x18432).
func BenchmarkSgemmHeadConv(b *testing.B) {
	const m, n, k = 1568, 256, 18432
	rng := rand.New(rand.NewPCG(1, 2))
	a, bb, c := random(rng, m*k), random(rng, k*n), make([]float32, m*n)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Sgemm(false, false, m, n, k, 1, a, k, bb, n, 0, c, n)
	}
	b.ReportMetric(2*m*n*k*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}
