package native

import (
	"math"
	"math/rand/v2"
	"testing"
)

// The vector loops against scalar float64 arithmetic written out here,
// over lengths that exercise the 32-, 8- and 1-wide parts, for both the
// assembly (where the CPU has it) and the Go loops.
func TestVectorLoops(t *testing.T) {
	defer func(saved bool) { hasVec = saved }(hasVec)
	r := rand.New(rand.NewPCG(7, 8))
	nan := float32(math.NaN())
	for _, vec := range []bool{false, hasVec} {
		hasVec = vec
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 70} {
			dst, x, f := randT(r, n+1).F32, randT(r, n+1).F32, randT(r, n+1).F32
			want := make([]float32, n+1)
			for i := range want {
				want[i] = dst[i]
				if i < n {
					want[i] = float32(float64(dst[i]) + float64(x[i])*float64(f[i]))
				}
			}
			fmadd(dst[:n], x, f)
			for i := range want {
				if math.Abs(float64(dst[i]-want[i])) > 1e-6 {
					t.Fatalf("vec=%v fmadd n=%d: [%d] = %v, want %v", vec, n, i, dst[i], want[i])
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
