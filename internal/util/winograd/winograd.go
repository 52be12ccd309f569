package winograd

import (
	"fmt"
	"math"
	"slices"
)

// Mats are F(m x m, 3 x 3)'s transforms: an m x m output tile is
// AT [ (G g G^T) . (BT d BT^T) ] AT^T over an a x a input tile d
// (a = m+2) and the 3x3 filter g.
type Mats struct {
	M, A int
	BT   [][]float64 // a x a, input: B^T
	G    [][]float64 // a x 3, filter: G
	AT   [][]float64 // m x a, output: A^T
}

// CookToom builds the transforms from a-1 finite interpolation points and
// infinity (Toom-Cook): A^T[i][j] = p_j^i, G[j][k] = p_j^k / prod_{l!=j}
// (p_j - p_l), B^T's row j the coefficients of prod_{l!=j} (x - p_l), and
// infinity's row and column pick the leading coefficients. Each B^T row is
// scaled by a power of two (its inverse going into G, exactly) so that
// its largest coefficient lies in [1, 2).
func CookToom(points []float64) *Mats {
	const r = 3
	a := len(points) + 1
	w := &Mats{M: a - r + 1, A: a}
	for i := range w.M {
		row := make([]float64, a)
		for j, p := range points {
			row[j] = math.Pow(p, float64(i)) // 0^0 = 1
		}
		if i == w.M-1 {
			row[a-1] = 1
		}
		w.AT = append(w.AT, row)
	}
	for j := range a {
		poly, f := []float64{1}, 1.0
		for l, q := range points {
			if l != j {
				poly = polyMulRoot(poly, q)
				if j < len(points) {
					f *= points[j] - q
				}
			}
		}
		bt := make([]float64, a)
		copy(bt, poly)
		g := []float64{0, 0, 1} // infinity
		if j < len(points) {
			g = []float64{1 / f, points[j] / f, points[j] * points[j] / f}
		}
		big := 0.0
		for _, v := range bt {
			big = max(big, math.Abs(v))
		}
		s := math.Ldexp(1, -int(math.Floor(math.Log2(big))))
		for k := range bt {
			bt[k] *= s
		}
		for k := range g {
			g[k] /= s
		}
		w.BT, w.G = append(w.BT, bt), append(w.G, g)
	}
	return w
}

// polyMulRoot multiplies the polynomial p (ascending coefficients) by (x - q).
func polyMulRoot(p []float64, q float64) []float64 {
	out := make([]float64, len(p)+1)
	for k, c := range p {
		out[k+1] += c
		out[k] -= q * c
	}
	return out
}

// The two tile sizes. F(4x4)'s points 0, +-1, 1/2, -2 halve its float32
// error against Lavin's 0, +-1, +-2 (measured over ResNet-like layers
// against a float64 convolution: 4.2e-6 of max|y| against 8.8e-6; 0, +-1,
// +-1/2 gave 1e-5, 0, +-1/2, +-2 5.2e-6, F(2x2) 6e-7).
var (
	F2 = CookToom([]float64{0, 1, -1})
	F4 = CookToom([]float64{0, 1, -1, 0.5, -2})
)

// Taps are a transform row's nonzero coefficients and, for a given stride
// between the combined vectors, their offsets.
func Taps(row []float64, stride int) (off []int, coef []float32) {
	for k, v := range row {
		if v != 0 {
			off, coef = append(off, k*stride), append(coef, float32(v))
		}
	}
	return off, coef
}

// PureGo keeps Comb on its Go loop (tests run both).
var PureGo = false

// Comb sets y[p*ys+ch] = sum_t coef[t] * x[p*xs+off[t]+ch] for pixels
// p < npix and channels ch < c (offsets and steps in float32s): every
// Winograd transform is such a combination of channel vectors. At most 8
// taps; the sum runs in tap order, on either loop.
func Comb(y, x []float32, off []int, coef []float32, npix, xs, ys, c int) {
	if npix == 0 || c == 0 {
		return
	}
	if len(off) == 0 || len(off) > 8 || len(coef) != len(off) || slices.Min(off) < 0 ||
		(npix-1)*xs+slices.Max(off)+c > len(x) || (npix-1)*ys+c > len(y) {
		panic(fmt.Sprintf("winograd: Comb of %d pixels x %d over %d values into %d, offsets %v", npix, c, len(x), len(y), off))
	}
	if has512 && !PureGo && c%16 == 0 {
		var boff [8]int
		for t, o := range off {
			boff[t] = 4 * o
		}
		combAsm(&y[0], &x[0], &boff[0], &coef[0], len(off), npix, 4*xs, 4*ys, c)
		return
	}
	for p := range npix {
		yp, xp := y[p*ys:][:c], x[p*xs:]
		for ch := range yp {
			var s float32
			for t, o := range off {
				s += coef[t] * xp[o+ch]
			}
			yp[ch] = s
		}
	}
}
