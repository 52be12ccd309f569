package native

import (
	"fmt"
	"os"
	"runtime"
	"sync"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
	"github.com/graft-ml/graft/internal/util/winograd"
)

// Winograd's minimal filtering F(m x m, 3 x 3) for Conv2D with a constant
// 3x3 filter, stride 1, dilation 1, ungrouped: each m x m tile of output
// is A^T [ (G g G^T) . (B^T d B) ] A over an a x a input tile d (a = m+2),
// so the a*a products of the middle are a*a GEMMs of (tiles x C) by
// (C x O) against the filter transformed and packed once, 9m^2/a^2 of
// im2col's multiply-adds (4/9 for F(2x2), 1/4 for F(4x4)). The transforms
// are short linear combinations of whole channel vectors (winograd.Comb).
//
// Layouts, per block of T tiles (whole tile rows, so that a block's
// output is whole image rows for the epilogue): the input band of a tile
// row (a image rows, zero-padded), t[i][tile][j][C] = B^T d (rows done),
// V[j*a+i][tile][C] = B^T d B, M[xi][tile][O] = the GEMMs' products,
// s[v][i][tile][O] = M A (columns done), then A^T s into the output.

// winoEnv is GRAFT_NATIVE_WINOGRAD: "0" runs every convolution as im2col
// + GEMM (for A/B comparisons), "2" or "4" forces F(2x2) or F(4x4) on every
// eligible one, unset or "1" lets winoPick choose.
var winoEnv = os.Getenv("GRAFT_NATIVE_WINOGRAD")

// winoEnvCheck rejects a GRAFT_NATIVE_WINOGRAD value that names no mode,
// rather than running the default rule for a misspelt A/B.
func winoEnvCheck(v string) error {
	switch v {
	case "", "0", "1", "2", "4":
		return nil
	}
	return fmt.Errorf("GRAFT_NATIVE_WINOGRAD=%q: want 0 (im2col + GEMM for every convolution), 1 or unset (the default rule), 2 or 4 (F(2x2) or F(4x4) for every 3x3 stride-1 convolution)", v)
}

// winoBudget bounds one worker's block scratch (in float32s, 2 MiB, the
// L2 of the machines measured; a variable for tests): the transformed
// tiles stay in cache from transform to GEMM to inverse transform.
var winoBudget = 1 << 19

// winoMinTiles is the fewest tiles a block gets whatever the budget (a
// variable for tests).
var winoMinTiles = 48

// winoFilter is a Conv2D's constant 3x3 filter [3, 3, C, O], transformed
// and packed for the GEMMs the first time each tile size runs.
type winoFilter struct {
	f    []float32
	c, o int
	once [2]sync.Once
	u    [2][]*gemm.PackedB // by tile size: F(2x2), F(4x4)
}

// newWinoFilter is nil unless Winograd can run the convolution: 3x3,
// stride 1, dilation 1 (groups are checked per run).
func newWinoFilter(w window, f *tensor.Tensor) *winoFilter {
	if winoEnv == "0" || len(f.Shape) != 4 || f.Shape[0] != 3 || f.Shape[1] != 3 ||
		w.sh != 1 || w.sw != 1 || w.dh != 1 || w.dw != 1 {
		return nil
	}
	return &winoFilter{f: f.F32, c: f.Shape[2], o: f.Shape[3]}
}

// conv runs the convolution as Winograd and reports true, or reports false
// (y untouched) where winoPick keeps im2col + GEMM.
func (wf *winoFilter) conv(g geom, x, y []float32, ep *epilogue) bool {
	if wf == nil || g.c != wf.c {
		return false
	}
	w := winoPick(g)
	if w == nil {
		return false
	}
	winoConv(w, g, x, wf.packed(w), wf.o, y, ep)
	return true
}

// memory is winoMemory where conv would run Winograd on g; false where
// it keeps im2col + GEMM.
func (wf *winoFilter) memory(g geom, threads int) (kernelMem, bool) {
	if wf == nil || g.c != wf.c {
		return kernelMem{}, false
	}
	w := winoPick(g)
	if w == nil {
		return kernelMem{}, false
	}
	return winoMemory(w, g, wf.o, threads), true
}

// winoMinTiles2 is the fewest 2x2 output tiles per image for which
// winoPick takes Winograd: below it the GEMMs are too short to pay for
// streaming 16 transformed filters (ResNet50's 7x7x512 at batch 1, 16
// tiles, measured no faster than im2col). Per image, not per batch: an
// image's features must not depend on the batch it came in
// (gemm.BatchInvariant; TestFeaturesDoNotDependOnTheBatch), so the choice
// cannot either, and the 7x7x512 layers stay on im2col at every batch
// (at batch 32 Winograd ran them at 0.7x).
const winoMinTiles2 = 32

// winoPick chooses the tile size for a convolution, nil for im2col + GEMM.
// F(2x2) by default: F(4x4) ran faster still on most ResNet50 shapes
// (0.4-0.8x im2col's time against F(2x2)'s 0.6-0.8x), but its larger
// rounding took ResNet50's zoo parity to 0.98-1.1x the 1e-4 bound (from
// 0.61x; F(2x2) 0.71-0.73x), so it runs only where GRAFT_NATIVE_WINOGRAD=4
// asks.
func winoPick(g geom) *winograd.Mats {
	switch winoEnv {
	case "0": // set after the filter was kept (tests)
		return nil
	case "2":
		return winograd.F2
	case "4":
		return winograd.F4
	}
	if ((g.oh+1)/2)*((g.ow+1)/2) < winoMinTiles2 {
		return nil
	}
	return winograd.F2
}

// packed is the filter transformed for w's tile size, once.
func (wf *winoFilter) packed(w *winograd.Mats) []*gemm.PackedB {
	i := 0
	if w.M == 4 {
		i = 1
	}
	wf.once[i].Do(func() { wf.u[i] = winoFilterTransform(w, wf.f, wf.c, wf.o) })
	return wf.u[i]
}

// winoFilterTransform returns U[j*a+i] = (G g G^T)[i][j] for every (c, o),
// computed in float64 and packed as a C x O matrix each.
func winoFilterTransform(w *winograd.Mats, f []float32, c, o int) []*gemm.PackedB {
	a := w.A
	u := make([]*gemm.PackedB, a*a)
	parallel.For(a*a, 1, func(lo, hi int) {
		for xi := lo; xi < hi; xi++ {
			j, i := xi/a, xi%a
			var coef [9]float64
			for ky := range 3 {
				for kx := range 3 {
					coef[ky*3+kx] = w.G[i][ky] * w.G[j][kx]
				}
			}
			// A buffer per matrix: PackB keeps it as is where no packed
			// kernel runs.
			buf := make([]float32, c*o)
			for p := range buf {
				var s float64
				for t, k := range coef {
					s += k * float64(f[t*c*o+p])
				}
				buf[p] = float32(s)
			}
			u[xi] = gemm.PackB(c, o, buf, o)
		}
	})
	return u
}

// winoPool keeps the blocks' scratch between convolutions, as colPool.
var winoPool = sync.Pool{New: func() any { return new([]float32) }}

// winoConv computes y = conv(x, f) with w's tiles, u being f transformed
// by winoFilterTransform, then ep on each block of whole output rows.
// Every value of y is written.
func winoConv(w *winograd.Mats, g geom, x []float32, u []*gemm.PackedB, o int, y []float32, ep *epilogue) {
	m, a, c := w.M, w.A, g.c
	if g.n*g.oh*g.ow == 0 || o == 0 {
		return
	}
	bl := winoBlocks(w, g, o)
	tpr, tcol, wb, rpb := bl.tpr, bl.tcol, bl.wb, bl.rpb
	rows := g.n * tcol
	// With a block per worker, each worker runs its blocks alone; with
	// fewer (a late layer at batch 1), the workers share each block's
	// steps: its tile rows, transform rows and GEMMs.
	inner := func(n int, fn func(lo, hi int)) { fn(0, n) }
	if (rows+rpb-1)/rpb < runtime.GOMAXPROCS(0) {
		inner = func(n int, fn func(lo, hi int)) { parallel.For(n, 1, fn) }
	}
	bandLen := a * wb * c
	parallel.For(rows, rpb, func(lo, hi int) {
		buf := winoPool.Get().(*[]float32)
		defer winoPool.Put(buf)
		need := min(rpb, hi-lo) * bl.perRow
		if cap(*buf) < need {
			*buf = make([]float32, need)
		}
		for r0 := lo; r0 < hi; r0 += rpb {
			r1 := min(r0+rpb, hi)
			nt := (r1 - r0) * tpr
			s := (*buf)[:need]
			bands, s := s[:(r1-r0)*bandLen], s[(r1-r0)*bandLen:]
			t, s := s[:a*nt*a*c], s[a*nt*a*c:]
			v, s := s[:a*a*nt*c], s[a*a*nt*c:]
			mm, s := s[:a*a*nt*o], s[a*a*nt*o:]
			sv := s[:m*a*nt*o]
			// B^T d: each tile row's band, row transform over its tiles.
			inner(r1-r0, func(lo, hi int) {
				for r := r0 + lo; r < r0+hi; r++ {
					band := bands[(r-r0)*bandLen:][:bandLen]
					winoBand(g, x, band, r/tcol, (r%tcol)*m-g.pt, -g.pl, a, wb)
					for i := range a {
						off, coef := winograd.Taps(w.BT[i], wb*c)
						winograd.Comb(t[(i*nt+(r-r0)*tpr)*a*c:], band, off, coef, tpr, m*c, a*c, a*c)
					}
				}
			})
			// (B^T d) B: column transform over all of the block's tiles.
			inner(a, func(lo, hi int) {
				for j := lo; j < hi; j++ {
					off, coef := winograd.Taps(w.BT[j], c)
					winograd.Comb(v[j*a*nt*c:], t, off, coef, a*nt, a*c, c, c)
				}
			})
			inner(a*a, func(lo, hi int) {
				for xi := lo; xi < hi; xi++ {
					u[xi].MulSetSerial(nt, v[xi*nt*c:], c, mm[xi*nt*o:], o)
				}
			})
			// M A, then A^T (M A) into the output's rows. Vectors of O
			// values throughout: whether winograd.Comb takes its vector loop
			// must not depend on the block's size (batch invariance).
			inner(m, func(lo, hi int) {
				for vv := lo; vv < hi; vv++ {
					off, coef := winograd.Taps(w.AT[vv], a*nt*o)
					winograd.Comb(sv[vv*a*nt*o:], mm, off, coef, a*nt, o, o, o)
				}
			})
			inner(r1-r0, func(lo, hi int) {
				for r := r0 + lo; r < r0+hi; r++ {
					n, oy0 := r/tcol, (r%tcol)*m
					for uu := range min(m, g.oh-oy0) {
						off, coef := winograd.Taps(w.AT[uu], nt*o)
						for vv := range min(m, g.ow) {
							nv := (g.ow - vv + m - 1) / m
							winograd.Comb(y[((n*g.oh+oy0+uu)*g.ow+vv)*o:], sv[(vv*a*nt+(r-r0)*tpr)*o:], off, coef, nv, o, m*o, o)
						}
					}
					ep.apply(y, o, (n*g.oh+oy0)*g.ow, (n*g.oh+min(oy0+m, g.oh))*g.ow)
				}
			})
		}
	})
}

// winoBlock is how winoConv cuts a convolution into blocks of whole
// tile rows.
type winoBlock struct {
	tpr, tcol int // tiles per tile row, tile rows per image
	wb        int // the input band's width
	rpb       int // tile rows per block
	perRow    int // scratch floats per tile row: its band, t, V, M and s
}

// winoBlocks cuts g for w's tiles and o outputs: rows per block within
// winoBudget, but at least winoMinTiles tiles, below which the GEMMs
// stream their filters from L3 for too few rows.
func winoBlocks(w *winograd.Mats, g geom, o int) winoBlock {
	m, a := w.M, w.A
	b := winoBlock{tpr: (g.ow + m - 1) / m, tcol: (g.oh + m - 1) / m}
	b.wb = b.tpr*m + a - m
	perTile := a*a*(2*g.c+o) + m*a*o
	b.rpb = max(1, winoBudget/(b.tpr*perTile), (winoMinTiles+b.tpr-1)/b.tpr)
	b.perRow = a*b.wb*g.c + b.tpr*perTile
	return b
}

// winoMemory is what winoConv holds on g with w's tiles, threads workers
// and o outputs: the filter transformed once (a*a packed C x O matrices,
// or their plain copies where no packed kernel runs), and the largest
// block scratch one worker takes from winoPool.
func winoMemory(w *winograd.Mats, g geom, o, threads int) kernelMem {
	a := w.A
	u := gemm.PackedBytes(g.c, o)
	if u == 0 {
		u = 4 * int64(g.c*o)
	}
	mem := kernelMem{kept: int64(a*a) * u, gemm: true}
	if g.n*g.oh*g.ow == 0 || o == 0 {
		return mem
	}
	bl := winoBlocks(w, g, o)
	_, block := parallel.Split(g.n*bl.tcol, bl.rpb, threads)
	mem.wino = 4 * int64(min(bl.rpb, block)*bl.perRow)
	return mem
}

// winoBand copies a image rows of image n from row iy0, columns
// [ix0, ix0+wb), into band ([a][wb][C]), zero outside the image.
func winoBand(g geom, x, band []float32, n, iy0, ix0, a, wb int) {
	c := g.c
	lo, hi := max(0, -ix0), min(wb, g.w-ix0) // the columns inside
	for k := range a {
		row := band[k*wb*c : (k+1)*wb*c]
		iy := iy0 + k
		if iy < 0 || iy >= g.h || hi <= lo {
			clear(row)
			continue
		}
		clear(row[:lo*c])
		copy(row[lo*c:hi*c], x[((n*g.h+iy)*g.w+ix0+lo)*c:])
		clear(row[hi*c:])
	}
}
