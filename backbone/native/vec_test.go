package native

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The vector loops against scalar float64 arithmetic written out here,
// over lengths that exercise the 32-, 8- and 1-wide parts, for both the
// assembly (where the CPU has it: AVX2, and AVX-512 for the sigmoid unless
// avx2Only) and the Go loops.
func TestVectorLoops(t *testing.T) {
	defer func(saved bool) { hasVec = saved }(hasVec)
	defer func(saved bool) { avx2Only = saved }(avx2Only)
	r := rand.New(rand.NewPCG(7, 8))
	nan := float32(math.NaN())
	for _, mode := range []struct{ vec, only2 bool }{{false, true}, {hasVec, true}, {hasVec, false}} {
		vec := mode.vec
		hasVec, avx2Only = vec, mode.only2
		for _, n := range []int{0, 1, 7, 8, 9, 16, 24, 31, 32, 33, 70} {
			dst, x, f := randT(r, n+1).F32, randT(r, n+1).F32, randT(r, n+1).F32
			want := make([]float32, n+1)
			for i := range want {
				want[i] = dst[i]
				if i < n {
					want[i] = float32(float64(dst[i]) + float64(x[i])*float64(f[i]))
				}
			}
			fmadd(dst[:n], x, f)
			// maxInto against Go's max, NaN planted in either operand
			// and signed zeros and infinities among the values.
			acc, xs := randT(r, n+1).F32, randT(r, n+1).F32
			for i := range n {
				switch i % 7 {
				case 1:
					acc[i] = nan
				case 3:
					xs[i] = nan
				case 4:
					acc[i], xs[i] = float32(math.Inf(-1)), float32(math.Inf(1))
				case 5:
					acc[i], xs[i] = 0, -2
				}
			}
			wantMax := append([]float32(nil), acc...)
			for i := range n {
				wantMax[i] = max(acc[i], xs[i])
			}
			maxInto(acc[:n], xs)
			for i := range wantMax {
				if g, w := acc[i], wantMax[i]; g != w && !(g != g && w != w) {
					t.Fatalf("vec=%v maxInto n=%d: [%d] = %v, want %v", vec, n, i, g, w)
				}
			}
			for i := range want {
				if math.Abs(float64(dst[i]-want[i])) > 1e-6 {
					t.Fatalf("vec=%v fmadd n=%d: [%d] = %v, want %v", vec, n, i, dst[i], want[i])
				}
			}
			for _, mul := range []bool{false, true} {
				y := randT(r, n).F32
				for i := range y {
					y[i] *= 60 // past exp's float32 range at 1.5*60
				}
				if n > 2 {
					y[1] = nan
				}
				const beta = 1.5
				want := make([]float64, n)
				arg := make([]float64, n)
				for i, v := range y {
					arg[i] = math.Abs(beta * float64(v))
					want[i] = 1 / (1 + math.Exp(-beta*float64(v)))
					if mul {
						want[i] *= float64(v)
					}
				}
				sigmoidMul(y, beta, mul)
				for i, v := range y {
					if math.IsNaN(want[i]) != math.IsNaN(float64(v)) || (!math.IsNaN(want[i]) && math.Abs(float64(v)-want[i]) > (2e-6+1.2e-7*arg[i])*math.Abs(want[i])+1e-30) {
						// The tolerance allows for beta*v rounded to float32.
						t.Fatalf("vec=%v avx2Only=%v sigmoidMul mul=%v n=%d: [%d] = %v, want %v", vec, mode.only2, mul, n, i, v, want[i])
					}
				}
			}
			for _, act := range []actKind{actNone, actRelu, actRelu6} {
				for _, o := range []int{1, 3, 8, 13} {
					rows := n/o + 1
					y, bias := randT(r, rows*o).F32, randT(r, o).F32
					for i := range y {
						y[i] *= 10
					}
					y[0] = nan
					want := make([]float64, len(y))
					for i, v := range y {
						w := float64(v) + float64(bias[i%o])
						switch act {
						case actRelu:
							w = math.Max(w, 0)
						case actRelu6:
							w = math.Min(math.Max(w, 0), 6)
						}
						want[i] = w
					}
					biasClamp(y, bias, o, act)
					for i, v := range y {
						if math.IsNaN(want[i]) != math.IsNaN(float64(v)) || (!math.IsNaN(want[i]) && math.Abs(float64(v)-want[i]) > 1e-5) {
							t.Fatalf("vec=%v biasClamp act=%d o=%d rows=%d: [%d] = %v, want %v", vec, act, o, rows, i, v, want[i])
						}
					}
				}
			}
		}
	}
}
