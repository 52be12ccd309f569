package winograd

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestCookToomIsCorrelation checks each tile size's transforms against
// the definition, in float64: AT [(G g) . (BT d)] is the 1-D valid
// correlation y[i] = sum_k d[i+k] g[k] (the 2-D transforms are these
// applied to rows and then columns).
func TestCookToomIsCorrelation(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, w := range []*Mats{F2, F4, CookToom([]float64{0, 1, -1, 2, -2})} {
		d, g := make([]float64, w.A), make([]float64, 3)
		for i := range d {
			d[i] = r.NormFloat64()
		}
		for i := range g {
			g[i] = r.NormFloat64()
		}
		prod := make([]float64, w.A)
		for j := range w.A {
			var u, v float64
			for k := range 3 {
				u += w.G[j][k] * g[k]
			}
			for k := range w.A {
				v += w.BT[j][k] * d[k]
			}
			prod[j] = u * v
		}
		for i := range w.M {
			var got, want float64
			for j := range w.A {
				got += w.AT[i][j] * prod[j]
			}
			for k := range 3 {
				want += d[i+k] * g[k]
			}
			if math.Abs(got-want) > 1e-12*(1+math.Abs(want)) {
				t.Errorf("F(%d): y[%d] = %v, want %v", w.M, i, got, want)
			}
		}
	}
}

// TestComb runs Comb's vector loop and its Go loop against a float64 sum,
// on channel counts on and off the vector widths and strided pixels.
func TestComb(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, c := range []int{16, 48, 64, 80, 256, 7} {
		for _, pure := range []bool{false, true} {
			t.Run(fmt.Sprintf("c=%d/go=%v", c, pure), func(t *testing.T) {
				defer func(v bool) { PureGo = v }(PureGo)
				PureGo = pure
				const npix, xs, ys = 5, 300, 290
				off, coef := []int{0, 3, 17, 40}, []float32{1, -2.5, 0.5, 4}
				x := make([]float32, (npix-1)*xs+40+c)
				for i := range x {
					x[i] = float32(r.NormFloat64())
				}
				y := make([]float32, (npix-1)*ys+c+1)
				for i := range y {
					y[i] = float32(math.NaN())
				}
				Comb(y, x, off, coef, npix, xs, ys, c)
				for p := range npix {
					for ch := range c {
						var want float64
						for k, o := range off {
							want += float64(coef[k]) * float64(x[p*xs+o+ch])
						}
						if got := float64(y[p*ys+ch]); !(math.Abs(got-want) <= 1e-5*(1+math.Abs(want))) {
							t.Fatalf("pixel %d channel %d: %v, want %v", p, ch, got, want)
						}
					}
					if p < npix-1 && ys > c && !math.IsNaN(float64(y[p*ys+c])) {
						t.Fatalf("pixel %d: wrote past its %d channels", p, c)
					}
				}
			})
		}
	}
}
