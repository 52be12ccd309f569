package gemm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// epRef is the epilogue's oracle, in float64 and written out here: the
// product (naive's float64 sum, so no float32 rounding of v is shared with
// the code under test), plus bias[j], plus the residual, clamped.
func epRef(transA bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) []float64 {
	out := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var s float64
			for p := range k {
				ai := i*lda + p
				if transA {
					ai = p*lda + i
				}
				s += float64(a[ai]) * float64(b[p*ldb+j])
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			if ep.Bias != nil {
				v += float64(ep.Bias[j])
			}
			if ep.Res != nil {
				v += float64(ep.Res[i*ep.ResStride+j])
			}
			if ep.Clamp {
				v = math.Min(math.Max(v, float64(ep.Lo)), float64(ep.Hi))
			}
			out[i*n+j] = v
		}
	}
	return out
}

// TestEpilogue checks MulSet and SgemmEp with an epilogue against epRef on
// every path: bias, residual (its own row stride), ReLU and ReLU6, shapes
// with partial tiles in both directions (edge tiles run it in Go, full
// ones in the kernel), k over several KC blocks (only the last one may
// apply it), few rows (MulSet's column split), a C of NaN with beta 0 (it
// must not be read) and beta != 0 (it must be read first).
func TestEpilogue(t *testing.T) {
	inf := float32(math.Inf(1))
	eps := []struct {
		name             string
		bias, res, clamp bool
		lo, hi           float32
	}{
		{"bias", true, false, false, 0, 0},
		{"res", false, true, false, 0, 0},
		{"bias-relu", true, false, true, 0, inf},
		{"bias-res-relu", true, true, true, 0, inf},
		{"bias-relu6", true, false, true, 0, 6},
		{"res-relu6", false, true, true, 0, 6},
		{"clamp", false, false, true, -1, 2},
	}
	shapes := [][3]int{{1, 1, 1}, {12, 32, 7}, {13, 33, 300}, {24, 64, 16}, {150, 40, 600}, {11, 31, 5},
		{49, 300, 300}, {36, 3100, 20}}
	paths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		for _, sh := range shapes {
			for _, e := range eps {
				for _, call := range []string{"MulSet", "SgemmEp", "SgemmEp-beta", "SgemmEp-transA"} {
					m, n, k := sh[0], sh[1], sh[2]
					t.Run(fmt.Sprintf("%dx%dx%d/%s/%s", m, n, k, e.name, call), func(t *testing.T) {
						testEpilogue(t, rng, m, n, k, call, e.bias, e.res, e.clamp, e.lo, e.hi)
					})
				}
			}
		}
	})
}

func testEpilogue(t *testing.T, rng *rand.Rand, m, n, k int, call string, bias, res, clamp bool, lo, hi float32) {
	transA := call == "SgemmEp-transA"
	lda, ldb, ldc, ldr := k+1, n+2, n+3, n+5
	alpha, beta := float32(1), float32(0)
	if call == "SgemmEp-beta" {
		alpha, beta = -0.75, 0.5
	}
	if transA {
		lda = m + 1
	}
	rows := m
	if transA {
		rows = k
	}
	a, b, c := random(rng, rows*lda), random(rng, k*ldb), random(rng, m*ldc)
	ep := &Epilogue{Clamp: clamp, Lo: lo, Hi: hi}
	if bias {
		ep.Bias = random(rng, n)
		for j := range ep.Bias {
			ep.Bias[j] *= 4 // some values over ReLU6's 6 even when k is small
		}
	}
	if res {
		ep.Res, ep.ResStride = random(rng, m*ldr), ldr
	}
	if beta == 0 {
		for i := range c {
			if i%ldc < n {
				c[i] = float32(math.NaN())
			}
		}
	}
	want := epRef(transA, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep)
	pad := append([]float32(nil), c...)
	if call == "MulSet" {
		PackB(k, n, b, ldb).MulSet(m, a, lda, c, ldc, ep)
	} else {
		SgemmEp(transA, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ep)
	}
	for i := range c {
		r, q := i/ldc, i%ldc
		if q >= n {
			if c[i] != pad[i] && !(c[i] != c[i] && pad[i] != pad[i]) {
				t.Fatalf("wrote padding C[%d]", i)
			}
			continue
		}
		w := want[r*n+q]
		if tol := 1e-5 * math.Sqrt(float64(k)+1) * math.Max(1, math.Abs(w)) * 4; !(math.Abs(float64(c[i])-w) <= tol) {
			t.Fatalf("C[%d,%d] = %v, want %v", r, q, c[i], w)
		}
	}
}

// TestEpilogueNaN: a NaN that reaches the clamp stays NaN, as in Go's
// min and max and the native engine's biasClamp (the clamp's second
// source is the value), on every path.
func TestEpilogueNaN(t *testing.T) {
	paths(t, func(t *testing.T) {
		m, n, k := 24, 64, 8
		a, b := make([]float32, m*k), make([]float32, k*n)
		a[5*k] = float32(math.NaN()) // row 5 of C is NaN
		c := make([]float32, m*n)
		SgemmEp(false, false, m, n, k, 1, a, k, b, n, 0, c, n, &Epilogue{Clamp: true, Lo: 0, Hi: 6})
		for i, v := range c {
			if isNaN := v != v; isNaN != (i/n == 5) {
				t.Fatalf("C[%d,%d] = %v", i/n, i%n, v)
			}
		}
	})
}
