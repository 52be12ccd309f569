package head

import (
	"fmt"
	"os"
	"sync"

	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
	"github.com/graft-ml/graft/internal/util/winograd"
)

// The wide conv head's 3x3 convolution runs as Winograd F(4x4, 3x3) in
// fp32, forward and weight gradient alike. Each 4x4 tile of output is
// AT [U . V] AT^T, U = G g G^T the kernel and V = BT d BT^T the 6x6 input
// tile, so the 36 elements of the middle are 36 GEMMs over the batch's
// tiles; the weight gradient is the same 36 GEMMs transposed,
// dU = V^T dM with dM = AT^T dY AT, then dg = G^T dU G. On a 7x7 map that
// is 4 tiles x 36 = 144 multiply-adds per (channel, filter) and image,
// where the clipped taps do 361: 2.5x fewer in each direction. The kernel
// changes every step, so its transform (36 C x F matrices) is computed and
// packed every step; V is kept from the forward for the gradient.
//
// Rows of V and M are tile-major (tile t, image i: row t*b+i), so that a
// tile's rows across the batch are one vector of b*C or b*F values, as
// the activations' [H*W][b][F] pixels are: the output transforms combine
// whole batch vectors (winograd.Comb).
//
// Its rounding is larger than the taps' (F(4x4)'s transforms, see
// winograd.F4), well inside what training notices; GRAFT_HEAD_WINOGRAD=0
// keeps the taps, for A/B comparisons.

// headWino is the tile size, F(4x4); headGT and headATT are its G and
// A^T transposed, for the weight gradient's transforms.
var (
	headWino = winograd.F4
	headGT   = transpose(headWino.G)  // 3 x a
	headATT  = transpose(headWino.AT) // a x m
)

// winoHeadEnv is GRAFT_HEAD_WINOGRAD: "0" keeps the conv head on its taps
// or im2col, "1" or unset lets winoMinChannels decide.
var winoHeadEnv = os.Getenv("GRAFT_HEAD_WINOGRAD")

// winoEnvCheck rejects a GRAFT_HEAD_WINOGRAD value that names no mode,
// rather than running the default for a misspelt A/B (CPUPrecision: the
// daemon refuses the job, graft train stops before training).
func winoEnvCheck(v string) error {
	switch v {
	case "", "0", "1":
		return nil
	}
	return fmt.Errorf("head: GRAFT_HEAD_WINOGRAD=%q: want 0 (the conv head on its taps or im2col) or 1 or unset (Winograd F(4x4,3x3) for wide 3x3 heads in fp32); unset it for the default", v)
}

// winoMinChannels is the narrowest feature map the head convolves by
// Winograd. A training step
// on 7x7 maps, Winograd's time over the taps' or im2col's (best of 3,
// `go test`, 2-core Xeon): 0.87 at 64 channels, 0.64-0.73 at 128-1280 at
// batch 32; 0.90, then 0.67 down to 0.50 at 1280, at batch 256.
const winoMinChannels = 64

// winoForce takes Winograd for every 3x3 fp32 head, whatever its width
// and map (tests: the transforms' edges).
var winoForce = false

// useWinograd is whether the conv runs as Winograd: a 3x3 kernel in fp32
// on features wide enough, and a map whose tiles do at most half the
// multiply-adds of the clipped taps (on a 7x7 map 4 tiles x 36 = 144
// against 19 x 19 = 361; a 1x1 or 5x5 map is no gain).
func (o *CPUOps) useWinograd(spec Spec) bool {
	if winoHeadEnv == "0" || spec.Kernel != 3 || o.prec == PrecisionBF16 {
		return false
	}
	if winoForce {
		return true
	}
	if spec.Channels < winoMinChannels {
		return false
	}
	th, tw := winoTiles(spec)
	taps := func(n int) int { return max(1, 3*n-2) } // valid (pixel, tap) pairs along an axis
	return 2*th*tw*headWino.A*headWino.A <= taps(spec.Height)*taps(spec.Width)
}

// winoTiles is the tiles per image: rows and columns of 4x4 output tiles.
func winoTiles(spec Spec) (th, tw int) {
	m := headWino.M
	return (spec.Height + m - 1) / m, (spec.Width + m - 1) / m
}

// winoForward sets act ([H*W][b][F]) to the pre-activations of the
// selected samples, bias included, and keeps V in o.winoV for
// winoWeightGrad.
func (o *CPUOps) winoForward(spec Spec, kernel, bias, f []float32, idx []int32, act []float32) {
	w := headWino
	a, c, nf, b := w.A, spec.Channels, spec.Filters, len(idx)
	th, tw := winoTiles(spec)
	rows := th * tw * b
	v := grow(&o.winoV, a*a*rows*c)
	o.winoInput(spec, f, idx, v)
	o.winoKernel(spec, kernel)
	mm := grow(&o.winoM, a*a*rows*nf)
	parallel.For(a*a, 1, func(lo, hi int) {
		for xi := lo; xi < hi; xi++ {
			o.winoU[xi].MulSetSerial(rows, v[xi*rows*c:], c, mm[xi*rows*nf:], nf)
		}
	})
	// The bias: A^T's column for the point 1 is all ones, so a constant
	// added to that element of every tile comes out at every pixel.
	one := mm[(1*a+1)*rows*nf:][:rows*nf]
	for r := range rows {
		addTo(one[r*nf:(r+1)*nf], bias)
	}
	winoOutput(spec, b, mm, act)
}

// winoWeightGrad writes the kernel's gradient given the pre-activations'
// gradient dAct ([H*W][b][F]) and the V that winoForward kept.
func (o *CPUOps) winoWeightGrad(spec Spec, b int, dAct, dKernel []float32) {
	w := headWino
	a, c, nf := w.A, spec.Channels, spec.Filters
	th, tw := winoTiles(spec)
	rows := th * tw * b
	dm := grow(&o.winoM, a*a*rows*nf)
	winoOutputGrad(spec, b, dAct, dm)
	du := grow(&o.winoDU, a*a*c*nf)
	for xi := range a * a {
		gemm.Sgemm(true, false, c, nf, rows, 1, o.winoV[xi*rows*c:], c, dm[xi*rows*nf:], nf, 0, du[xi*c*nf:], nf)
	}
	winoKernelGrad(du, c*nf, dKernel)
}

// scratchPool keeps the transforms' intermediate rows between steps.
var scratchPool = sync.Pool{New: func() any { return new([]float32) }}

// withScratch runs fn with a scratch buffer of n floats of its own (one
// per parallel.For block, so per worker).
func withScratch(n int, fn func(s []float32)) {
	buf := scratchPool.Get().(*[]float32)
	defer scratchPool.Put(buf)
	fn(grow(buf, n))
}

// addTo adds src to dst elementwise.
func addTo(dst, src []float32) {
	for i, v := range src {
		dst[i] += v
	}
}

// winoInput sets v[xi][t*b+i][C] = (BT d BT^T)[xi] for every image i and
// tile t, d the 6x6 input patch of the tile (zero outside the map), read
// straight from the features.
func (o *CPUOps) winoInput(spec Spec, f []float32, idx []int32, v []float32) {
	w := headWino
	a, m, c, b := w.A, w.M, spec.Channels, len(idx)
	h, wd, size := spec.Height, spec.Width, spec.FeatureSize()
	th, tw := winoTiles(spec)
	rows := th * tw * b
	parallel.For(th*tw*b, 1, func(lo, hi int) {
		withScratch(a*a*c, func(t []float32) { // BT d: [row k'][column l][C]
			for u := lo; u < hi; u++ {
				tile, i := u/b, u%b
				y0, x0 := (tile/tw)*m-1, (tile%tw)*m-1 // the patch's first pixel
				img := f[int(idx[i])*size:][:size]
				// The patch's rows and columns inside the map.
				k0, k1 := max(0, -y0), min(a, h-y0)
				l0, l1 := max(0, -x0), min(a, wd-x0)
				for kk := range a {
					row := t[kk*a*c:][:a*c]
					off, coef := validTaps(w.BT[kk], k0, k1, wd*c)
					if len(off) == 0 {
						clear(row)
						continue
					}
					clear(row[:l0*c])
					clear(row[l1*c:])
					base := ((y0+k0)*wd + x0 + l0) * c
					winograd.Comb(row[l0*c:], img[base:], off, coef, l1-l0, c, c, c)
				}
				// (BT d) BT^T: columns, all six rows of t at once.
				for j := range a {
					off, coef := winograd.Taps(w.BT[j], c)
					winograd.Comb(v[(j*rows+u)*c:], t, off, coef, a, a*c, a*rows*c, c)
				}
			}
		})
	})
}

// validTaps is winograd.Taps for the entries k0 <= k < k1 of row (the
// patch's rows or columns inside the map), offsets counted from k0.
func validTaps(row []float64, k0, k1, stride int) (off []int, coef []float32) {
	for k := k0; k < k1; k++ {
		if row[k] != 0 {
			off, coef = append(off, (k-k0)*stride), append(coef, float32(row[k]))
		}
	}
	return off, coef
}

// winoKernel transforms the HWIO kernel ([3][3][C][F]) to U[xi] = (G g
// G^T)[xi], each a C x F matrix packed for the GEMMs (o.winoU) a block of
// rows at a time, as it is made: U never exists unpacked.
func (o *CPUOps) winoKernel(spec Spec, kernel []float32) {
	w := headWino
	a, c, nf := w.A, spec.Channels, spec.Filters
	n := c * nf
	if len(o.winoU) != a*a {
		o.winoU = make([]*gemm.PackedB, a*a)
	}
	for xi := range o.winoU {
		o.winoU[xi] = gemm.ReuseB(o.winoU[xi], c, nf)
	}
	rb := o.winoU[0].RowBlock()
	blocks := (c + rb - 1) / rb
	// Per block of rows and row i of G: (G g)[i] over ky, then its
	// product with each column of G^T over kx, then packed.
	parallel.For(blocks*a, 1, func(lo, hi int) {
		withScratch(4*rb*nf, func(s []float32) {
			h, u := s[:3*rb*nf], s[3*rb*nf:] // (G g)[i][kx], a block of U
			for q := lo; q < hi; q++ {
				blk, i := q/a, q%a
				p0 := blk * rb
				kb := min(rb, c-p0)
				off, coef := winograd.Taps(w.G[i], 3*n)
				winograd.Comb(h, kernel[p0*nf:], off, coef, 3, n, rb*nf, kb*nf)
				for j := range a {
					off, coef := winograd.Taps(w.G[j], rb*nf)
					winograd.Comb(u, h, off, coef, 1, 0, 0, kb*nf)
					o.winoU[i*a+j].SetRows(p0, kb, u, nf)
				}
			}
		})
	})
}

// kernelChunk is how many of a kernel slice's n values the kernel
// gradient's transforms take at a time: their intermediate rows stay in
// L2.
func kernelChunk(n int) int {
	return min(n, 4096)
}

// winoKernelGrad sets dKernel[ky][kx] = (G^T dU G)[ky][kx] from
// dU[xi] (n = C*F values each).
func winoKernelGrad(du []float32, n int, dKernel []float32) {
	w := headWino
	a := w.A
	chunk := kernelChunk(n)
	parallel.For((n+chunk-1)/chunk, 1, func(lo, hi int) {
		withScratch(a*3*chunk, func(q []float32) { // [i][kx][chunk]: dU G
			for c := lo; c < hi; c++ {
				p0 := c * chunk
				cn := min(chunk, n-p0)
				for kx := range 3 {
					off, coef := winograd.Taps(headGT[kx], n)
					winograd.Comb(q[kx*chunk:], du[p0:], off, coef, a, a*n, 3*chunk, cn)
				}
				for ky := range 3 {
					off, coef := winograd.Taps(headGT[ky], 3*chunk)
					winograd.Comb(dKernel[ky*3*n+p0:], q, off, coef, 3, chunk, n, cn)
				}
			}
		})
	})
}

// transpose is m's transpose.
func transpose(m [][]float64) [][]float64 {
	out := make([][]float64, len(m[0]))
	for j := range out {
		out[j] = make([]float64, len(m))
		for i := range m {
			out[j][i] = m[i][j]
		}
	}
	return out
}

// winoOutput sets act's pixels ([H*W][b][F]) to AT M AT^T of each tile,
// dropping the tile pixels outside the map.
func winoOutput(spec Spec, b int, mm, act []float32) {
	w := headWino
	a, nf, wd := w.A, spec.Filters, spec.Width
	th, tw := winoTiles(spec)
	rows, bf := th*tw*b, b*nf
	// st is [u][j][b*F]: AT M.
	eachOutputTile(spec, b, func(tile, y0, x0, nu, nv int, st []float32) {
		for uu := range nu {
			off, coef := winograd.Taps(w.AT[uu], a*rows*nf)
			winograd.Comb(st[uu*a*bf:], mm[tile*bf:], off, coef, a, rows*nf, bf, bf)
		}
		for vv := range nv {
			off, coef := winograd.Taps(w.AT[vv], bf)
			winograd.Comb(act[(y0*wd+x0+vv)*bf:], st, off, coef, nu, a*bf, wd*bf, bf)
		}
	})
}

// winoOutputGrad sets dm[xi][t*b+i][F] = (AT^T dY AT)[xi] for each tile,
// dY the tile's pixels of dAct, zero outside the map: winoOutput's
// transpose.
func winoOutputGrad(spec Spec, b int, dAct, dm []float32) {
	w := headWino
	a, nf, wd := w.A, spec.Filters, spec.Width
	th, tw := winoTiles(spec)
	rows, bf := th*tw*b, b*nf
	// st is [u][j][b*F]: dY AT.
	eachOutputTile(spec, b, func(tile, y0, x0, nu, nv int, st []float32) {
		for j := range a {
			off, coef := validTaps(headATT[j], 0, nv, bf)
			if len(off) == 0 {
				for uu := range nu {
					clear(st[(uu*a+j)*bf:][:bf])
				}
				continue
			}
			winograd.Comb(st[j*bf:], dAct[(y0*wd+x0)*bf:], off, coef, nu, wd*bf, a*bf, bf)
		}
		for i := range a {
			off, coef := validTaps(headATT[i], 0, nu, a*bf)
			if len(off) == 0 {
				for j := range a {
					clear(dm[((i*a+j)*rows)*nf+tile*bf:][:bf])
				}
				continue
			}
			winograd.Comb(dm[(i*a*rows)*nf+tile*bf:], st, off, coef, a, bf, rows*nf, bf)
		}
	})
}

// eachOutputTile runs fn on every output tile across the workers: the
// tile, its first output pixel, its rows and columns inside the map, and
// the worker's scratch for the tile's a*m rows of b*F values.
func eachOutputTile(spec Spec, b int, fn func(tile, y0, x0, nu, nv int, st []float32)) {
	w := headWino
	m := w.M
	th, tw := winoTiles(spec)
	parallel.For(th*tw, 1, func(lo, hi int) {
		withScratch(w.A*m*b*spec.Filters, func(st []float32) {
			for tile := lo; tile < hi; tile++ {
				y0, x0 := (tile/tw)*m, (tile%tw)*m
				fn(tile, y0, x0, min(m, spec.Height-y0), min(m, spec.Width-x0), st)
			}
		})
	})
}
