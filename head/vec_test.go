package head

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestAdamAsmEqualsScalar checks the vector Adam against the scalar loop
// bit for bit, decay on and off, on lengths around the 8-lane groups and on
// values that round differently in any other order of operations.
func TestAdamAsmEqualsScalar(t *testing.T) {
	if !hasVecAsm {
		t.Skip("no assembly Adam on this CPU or build")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	special := []float32{0, float32(math.Copysign(0, -1)), 1e-38, -1e-45, 3e38, 1, -1, 1e-7}
	for _, n := range []int{8, 9, 15, 16, 1001} {
		for _, decay := range []bool{false, true} {
			k := adamConsts{decay: 4e-6, c1: 1 - float32(0.9), c2: 1 - float32(0.999), alpha: 1.3e-3, eps: 1e-7}
			mk := func() []float32 {
				x := make([]float32, n)
				for i := range x {
					x[i] = float32(rng.NormFloat64() * math.Pow(10, rng.Float64()*8-6))
					if rng.IntN(5) == 0 {
						x[i] = special[rng.IntN(len(special))]
					}
				}
				return x
			}
			p, g, m, v := mk(), mk(), mk(), mk()
			for i := range v {
				v[i] = float32(math.Abs(float64(v[i])))
			}
			p2, m2, v2 := append([]float32(nil), p...), append([]float32(nil), m...), append([]float32(nil), v...)
			adam(p, g, m, v, decay, &k)
			adamGo(p2, g, m2, v2, decay, &k)
			for i := range p {
				for _, pair := range [][2]float32{{p[i], p2[i]}, {m[i], m2[i]}, {v[i], v2[i]}} {
					if math.Float32bits(pair[0]) != math.Float32bits(pair[1]) {
						t.Fatalf("n %d decay %v, element %d: vector %v, scalar %v", n, decay, i, pair[0], pair[1])
					}
				}
			}
		}
	}
}

// TestReLULoopsOnEdgeValues checks reluSum and mask, vector and scalar
// parts alike (lengths around the 8-lane groups), against ReLU written out
// plainly: NaN stays NaN, -0 becomes +0, and only x > 0 passes a gradient.
func TestReLULoopsOnEdgeValues(t *testing.T) {
	nan := float32(math.NaN())
	negZero := float32(math.Copysign(0, -1))
	edge := []float32{nan, negZero, 0, -1e-45, 1e-45, -3, 2.5, float32(math.Inf(1)), float32(math.Inf(-1)), -nan}
	for _, n := range []int{1, 7, 8, 13, 24} {
		row, sum, g := make([]float32, n), make([]float32, n), make([]float32, n)
		for j := range row {
			row[j], sum[j], g[j] = edge[(j*7+n)%len(edge)], float32(j)-3, float32(j)+0.5
		}
		in, before := append([]float32(nil), row...), append([]float32(nil), sum...)
		reluSum(row, sum)
		for j, x := range in {
			want := x
			switch {
			case x != x: // NaN
			case x <= 0:
				want = 0 // +0, -0 included
			}
			if math.Float32bits(row[j]) != math.Float32bits(want) && !(want != want && row[j] != row[j]) {
				t.Errorf("n %d: relu(%v) = %v (bits %#x), want %v", n, x, row[j], math.Float32bits(row[j]), want)
			}
			if s := before[j] + want; math.Float32bits(sum[j]) != math.Float32bits(s) && !(s != s && sum[j] != sum[j]) {
				t.Errorf("n %d: sum %v + relu(%v) = %v, want %v", n, before[j], x, sum[j], s)
			}
		}
		copy(row, in)
		mask(row, g)
		for j, x := range in {
			want := float32(0)
			if x > 0 {
				want = g[j]
			}
			if math.Float32bits(row[j]) != math.Float32bits(want) {
				t.Errorf("n %d: mask(%v) = %v, want %v", n, x, row[j], want)
			}
		}
	}
}
