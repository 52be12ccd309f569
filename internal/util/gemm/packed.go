package gemm

import (
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/graft-ml/graft/internal/util/parallel"
)

// The packed SGEMM follows the BLIS layout: op(B) is copied a KC x NC block
// at a time into NR-wide column panels, op(A) an MC x KC block at a time into
// MR-tall row panels, so that the micro-kernel streams both from contiguous
// memory whatever the transposes and strides were. The last panels are
// padded with zeros; the kernel always computes a full MR x NR tile, and
// edge tiles go through a scratch tile before the valid part is added to C.
//
// The tile and block sizes belong to the micro-kernel: the AVX2 kernel's
// 6x16 tile fills 12 YMM accumulators, the AVX-512 kernel's 12x32 tile 24
// ZMM ones. KC keeps an NR panel of B in L1 (16 or 32 KiB), MC an MC x KC
// block of A in L2.
type microKernel struct {
	name       string
	mr, nr     int
	kc, mc, nc int
	packed     func(k int, a, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)
	direct     func(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)
	epi        bool // the kernels apply a non-nil ep as they store; else ep must be nil
	// tail (nil: none) stores alpha times tailRows rows of a packed mr-row
	// panel (a at its first row) into an edge tile: the last panel of a
	// product with few rows left runs ceil(rows/tailRows) of these where
	// that is fewer rows than mr (a 7x7 map's 49 rows: 4 tail rows, not 12).
	tail     func(k int, a, b, c *float32, ldc int, alpha float32)
	tailRows int
	// prefetch: the direct kernel takes bit 2 of set as "fetch the next
	// panel of B into L2 while using this one" (sgemmBlocks sets it on a
	// block of at most prefetchRows rows, on its first row panel).
	prefetch bool
}

// prefetchRows is the most rows a block may have for its first row panel
// to fetch the next panel of B: with few rows each panel of B is used for
// a short time after it comes from memory (ResNet50's 49-row products at
// batch 1 ran 5% faster end to end), while on taller blocks the hardware's
// own prefetch keeps up and the extra loads only cost (EfficientNetB0 at
// batch 1 ran 8-15% slower when every call fetched ahead).
const prefetchRows = 96

// maxTile bounds mr*nr of every kernel, for the edge tile on the stack.
const maxTile = 12 * 32

// kern is the micro-kernel in use, nil for gonum's Sgemm; tests set it to
// cover every kernel this CPU runs. override explains a GRAFT_GEMM value
// that names no path this CPU runs.
var kern, override = pickKernel(os.Getenv("GRAFT_GEMM"))

// pickKernel is the fastest kernel, or the one GRAFT_GEMM names ("go-avx2"
// on a Xeon whose clock drops under 512-bit code, "gonum" to compare).
func pickKernel(want string) (*microKernel, string) {
	if want == "gonum" {
		if len(kernels) > 0 { // else fastHint already says why gonum runs
			return nil, "GRAFT_GEMM=gonum: gonum's pure-Go GEMM in use, several times slower than " + kernels[0].name + "; unset GRAFT_GEMM for the fast one"
		}
		return nil, ""
	}
	names := []string{"gonum"}
	for _, kn := range kernels {
		if kn.name == want {
			return kn, ""
		}
		names = append(names, kn.name)
	}
	var def *microKernel
	if len(kernels) > 0 {
		def = kernels[0]
	}
	if want == "" {
		return def, ""
	}
	return def, fmt.Sprintf("GRAFT_GEMM=%q is no GEMM this build runs on this CPU (choose one of %s); using %s", want, strings.Join(names, ", "), kernelName(def))
}

func kernelName(kn *microKernel) string {
	if kn == nil {
		return "gonum"
	}
	return kn.name
}

type packBufs struct{ a, b []float32 }

var bufPool = sync.Pool{New: func() any { return new(packBufs) }}

// sgemmPacked is sgemm for m, n, k > 0 on the packed kernel kn.
func sgemmPacked(kn *microKernel, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	// Scale C by beta first so every block after it only accumulates.
	// beta == 0 overwrites without reading (C may hold NaN: BLAS rules):
	// the first block of k stores, so C is not cleared first.
	set := beta == 0 && alpha != 0
	if beta != 1 && !set {
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 {
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
	}
	if alpha == 0 {
		ep.apply(c, ldc, 0, 0, m, n)
		return
	}
	bufs := bufPool.Get().(*packBufs)
	defer bufPool.Put(bufs)
	bufB := grow(&bufs.b, kn.kc*kn.nc)
	sgemmBlocks(kn, transA, set, m, n, k, alpha, a, lda, c, ldc, ep, grow(&bufs.a, kn.mc*kn.kc), func(j0, p0, kb, nb int) []float32 {
		packB(kn.nr, transB, b, ldb, p0, j0, kb, nb, bufB)
		return bufB
	})
}

// sgemmBlocks is the blocked product C += alpha*op(A)*B on kernel kn, with
// C already scaled by beta, or C = alpha*op(A)*B with set, C unread (the
// first block of k stores, the later ones add); panelB returns the packed
// KC x NC block of B at (p0, j0) (packed on the fly, or once for all
// calls: PackedB). ep (nil: none; relative to c) finishes each tile as
// the last block of k stores it: in the kernel where it can, else in Go
// right after, while the tile is in L1.
func sgemmBlocks(kn *microKernel, transA, set bool, m, n, k int, alpha float32, a []float32, lda int, c []float32, ldc int, ep *Epilogue, bufA []float32, panelB func(j0, p0, kb, nb int) []float32) {
	mr, nr, kc, mc, nc := kn.mr, kn.nr, kn.kc, kn.mc, kn.nc
	var scratch [maxTile]float32
	tile := scratch[:mr*nr]
	var ke kernelEp
	for j0 := 0; j0 < n; j0 += nc {
		nb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			bufB := panelB(j0, p0, kb, nb)
			store := 0 // the kernels' set: this block of k stores into C
			if set && p0 == 0 {
				store = 1
			}
			var last *Epilogue // this block of k stores C for the last time
			if p0+kb == k {
				last = ep
			}
			for i0 := 0; i0 < m; i0 += mc {
				mb := min(mc, m-i0)
				// Row-major A is read in place by the direct kernel:
				// packing it costs as much as the product when n is small
				// (a conv's filters). Only a last panel of fewer than MR
				// rows is packed, zero-padded. Transposed A is always packed.
				direct := !transA
				if direct {
					if full := mb / mr * mr; full < mb {
						packA(mr, false, a, lda, i0+full, p0, mb-full, kb, bufA)
					}
				} else {
					packA(mr, transA, a, lda, i0, p0, mb, kb, bufA)
				}
				for jr := 0; jr < nb; jr += nr {
					nn := min(nr, nb-jr)
					bp := &bufB[jr*kb]
					for ir := 0; ir < mb; ir += mr {
						mm := min(mr, mb-ir)
						co := (i0+ir)*ldc + j0 + jr
						dst, ldd := &c[co], ldc
						edge := mm < mr || nn < nr
						if edge { // the kernel sets the scratch tile
							dst, ldd = &tile[0], nr
						}
						var kep *kernelEp
						if last != nil && kn.epi && !edge {
							last.tile(&ke, i0+ir, j0+jr)
							kep = &ke
						}
						pa := ir * kb // the packed panel of this tile's rows in bufA
						if direct {
							pa = 0
						}
						switch {
						case edge && kn.tail != nil && (mm+kn.tailRows-1)/kn.tailRows*kn.tailRows < mr:
							for r := 0; r < mm; r += kn.tailRows {
								kn.tail(kb, &bufA[pa+r], bp, &tile[r*nr], nr, alpha)
							}
						case direct && mm == mr:
							flags := store | b2i(edge)
							if kn.prefetch && ir == 0 && mb <= prefetchRows && jr+nr < nb {
								flags |= 2
							}
							kn.direct(kb, &a[(i0+ir)*lda+p0], lda, bp, dst, ldd, alpha, flags, kep)
						default:
							kn.packed(kb, &bufA[pa], bp, dst, ldd, alpha, store|b2i(edge), kep)
						}
						if !edge {
							if last != nil && kep == nil {
								last.apply(c[co:], ldc, i0+ir, j0+jr, mm, nn)
							}
							continue
						}
						for i := 0; i < mm; i++ {
							row := c[co+i*ldc : co+i*ldc+nn]
							if store == 1 {
								copy(row, tile[i*nr:])
								continue
							}
							for j := range row {
								row[j] += tile[i*nr+j]
							}
						}
						last.apply(c[co:], ldc, i0+ir, j0+jr, mm, nn)
					}
				}
			}
		}
	}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func grow(s *[]float32, n int) []float32 {
	if cap(*s) < n {
		*s = make([]float32, n)
	}
	return (*s)[:n]
}

// PackedB is a constant k x n matrix B (row-major) packed once into the
// panels the packed SGEMM reads, for products with many different A (a
// convolution's filter, reused by every batch): MulAdd skips packing B.
// Where no packed kernel runs (OpenBLAS, gonum) it keeps B as it is and
// MulAdd calls Sgemm, so callers need no second path.
type PackedB struct {
	kn     *microKernel // the kernel whose panel width it was packed for; nil: b as is
	k, n   int
	blocks [][]float32 // KC x NC blocks, j0-major as sgemmBlocks visits them
	b      []float32   // B itself when kn is nil, row stride ldb
	ldb    int
	own    bool // b is the PackedB's own memory (ReuseB), not the caller's
}

// PackB packs b (k x n, row stride ldb).
func PackB(k, n int, b []float32, ldb int) *PackedB {
	return RepackB(nil, k, n, b, ldb)
}

// RepackB is PackB into the memory of old when old was packed for the same
// shape and kernel (a weight that changes every step, packed every step).
func RepackB(old *PackedB, k, n int, b []float32, ldb int) *PackedB {
	checkOperand("B", false, k, n, b, ldb)
	if kern == nil { // keep b as it is
		return &PackedB{k: k, n: n, b: b, ldb: ldb}
	}
	p := ReuseB(old, k, n)
	for p0 := 0; p0 < k; p0 += p.RowBlock() {
		p.SetRows(p0, min(p.RowBlock(), k-p0), b[p0*ldb:], ldb)
	}
	return p
}

// ReuseB is a k x n PackedB for SetRows to fill, in the memory of old when
// old has the same shape and kernel: a matrix computed a block of rows at
// a time (the head's Winograd kernel transform) is packed as it is made
// and never stored whole unpacked.
func ReuseB(old *PackedB, k, n int) *PackedB {
	kn := kern
	p := old
	if p == nil || p.kn != kn || p.k != k || p.n != n || (kn == nil && !p.own) {
		p = &PackedB{kn: kn, k: k, n: n}
	}
	if kn == nil { // B as it is, in memory of its own (RepackB's is the caller's)
		if cap(p.b) < k*n {
			p.b = make([]float32, k*n)
		}
		p.b, p.ldb, p.own = p.b[:k*n], n, true
		return p
	}
	i := 0
	for j0 := 0; j0 < n; j0 += kn.nc {
		nb := min(kn.nc, n-j0)
		for p0 := 0; p0 < k; p0 += kn.kc {
			kb := min(kn.kc, k-p0)
			if i == len(p.blocks) {
				p.blocks = append(p.blocks, make([]float32, (nb+kn.nr-1)/kn.nr*kn.nr*kb))
			}
			i++
		}
	}
	return p
}

// RowBlock is the rows of B that SetRows packs at a time.
func (p *PackedB) RowBlock() int {
	if p.kn == nil {
		return max(1, p.k)
	}
	return p.kn.kc
}

// SetRows packs rows [p0, p0+kb) of B, given row-major in rows (row stride
// ld): p0 a multiple of RowBlock, kb the block's rows (RowBlock, or fewer
// at the end of B).
func (p *PackedB) SetRows(p0, kb int, rows []float32, ld int) {
	if p0%p.RowBlock() != 0 || kb != min(p.RowBlock(), p.k-p0) {
		panic(fmt.Sprintf("gemm: SetRows of rows %d..%d in blocks of %d of %d", p0, p0+kb, p.RowBlock(), p.k))
	}
	checkOperand("rows", false, kb, p.n, rows, ld)
	kn := p.kn
	if kn == nil {
		for r := range kb {
			copy(p.b[(p0+r)*p.ldb:][:p.n], rows[r*ld:])
		}
		return
	}
	nkb := (p.k + kn.kc - 1) / kn.kc
	for j0 := 0; j0 < p.n; j0 += kn.nc {
		packB(kn.nr, false, rows, ld, 0, j0, kb, min(kn.nc, p.n-j0), p.blocks[j0/kn.nc*nkb+p0/kn.kc])
	}
}

// Dims are B's rows (k) and columns (n).
func (p *PackedB) Dims() (k, n int) { return p.k, p.n }

// PackedBytes is the memory PackB allocates for a k x n matrix with the
// kernel in use: its KC x NC blocks, each NC rounded up to the panel
// width. 0 where no packed kernel runs (PackedB keeps B as given). For
// memory plans (the native engine's native.Fixed).
func PackedBytes(k, n int) int64 {
	kn := kern
	if kn == nil || k <= 0 || n <= 0 {
		return 0
	}
	var cols int64
	for j0 := 0; j0 < n; j0 += kn.nc {
		cols += int64((min(kn.nc, n-j0) + kn.nr - 1) / kn.nr * kn.nr)
	}
	return 4 * cols * int64(k)
}

// WorkerBytes is the scratch one goroutine's GEMM keeps pooled between
// calls (bufPool): the packed block of A and, with B not packed
// beforehand (Sgemm, as against PackedB), its packed block of B. 0 where
// no packed kernel runs.
func WorkerBytes(unpackedB bool) int64 {
	kn := kern
	if kn == nil {
		return 0
	}
	n := kn.mc * kn.kc
	if unpackedB {
		n += kn.kc * kn.nc
	}
	return 4 * int64(n)
}

// MulAdd adds A*B to C (m x n, row stride ldc) for row-major A (m x k,
// row stride lda), across GOMAXPROCS workers as Sgemm.
func (p *PackedB) MulAdd(m int, a []float32, lda int, c []float32, ldc int) {
	p.mul(m, a, lda, c, ldc, false, nil, false)
}

// MulSet sets C to A*B as MulAdd, never reading C: a recycled output
// needs no clearing first, the first block of k stores. ep (nil: none)
// then finishes each value as it is stored (a convolution's bias,
// residual and ReLU).
func (p *PackedB) MulSet(m int, a []float32, lda int, c []float32, ldc int, ep *Epilogue) {
	p.mul(m, a, lda, c, ldc, true, ep, false)
}

// MulSetSerial is MulSet in the calling goroutine alone, for callers that
// already split their work across workers (the native engine's Winograd
// blocks): MulSet would split each of their small products again. Where
// no packed kernel runs it is MulSet.
func (p *PackedB) MulSetSerial(m int, a []float32, lda int, c []float32, ldc int) {
	p.mul(m, a, lda, c, ldc, true, nil, true)
}

// colSplitRows is the most rows of C for which mul splits the columns
// across workers rather than the rows: a 7x7 or 14x14 map at batch 1.
const colSplitRows = 256

// SplitsColumns says whether MulAdd and MulSet of m rows split B's column
// panels across the workers rather than A's rows. A caller with that few
// rows makes one call over all of them: split by rows first, every worker
// would stream all of B for a short, padded panel.
func (p *PackedB) SplitsColumns(m int) bool {
	return p.kn != nil && p.k > 0 && m <= colSplitRows && p.n <= p.kn.nc && m*p.n*p.k >= 2*minWork
}

// mul is MulAdd (set false) or MulSet, its rows split across the workers
// unless serial.
func (p *PackedB) mul(m int, a []float32, lda int, c []float32, ldc int, set bool, ep *Epilogue, serial bool) {
	if m == 0 || p.n == 0 {
		return
	}
	beta := float32(1)
	if set {
		beta = 0
	}
	if p.kn == nil || p.k == 0 {
		SgemmEp(false, false, m, p.n, p.k, 1, a, lda, p.b, p.ldb, beta, c, ldc, ep)
		return
	}
	checkOperand("A", false, m, p.k, a, lda)
	checkOperand("C", false, m, p.n, c, ldc)
	ep.check(m, p.n)
	kn := p.kn
	nkb := (p.k + kn.kc - 1) / kn.kc
	// rows runs rows [lo, hi) of C on the calling goroutine.
	rows := func(lo, hi int) {
		bufs := bufPool.Get().(*packBufs)
		defer bufPool.Put(bufs)
		sgemmBlocks(kn, false, set, hi-lo, p.n, p.k, 1, a[lo*lda:], lda, c[lo*ldc:], ldc, ep.shift(lo, 0), grow(&bufs.a, kn.mc*kn.kc), func(j0, p0, _, _ int) []float32 {
			return p.blocks[j0/kn.nc*nkb+p0/kn.kc]
		})
	}
	switch {
	case serial:
		rows(0, m)
	case p.SplitsColumns(m):
		// Few rows (a late layer at batch 1): split B's panels across the
		// workers instead, so each streams part of B rather than all of
		// it, and no worker gets a short, mostly padded row panel.
		nr := kn.nr
		parallel.For((p.n+nr-1)/nr, 1, func(lo, hi int) {
			ja, jb := lo*nr, min(hi*nr, p.n)
			bufs := bufPool.Get().(*packBufs)
			defer bufPool.Put(bufs)
			sgemmBlocks(kn, false, set, m, jb-ja, p.k, 1, a, lda, c[ja:], ldc, ep.shift(0, ja), grow(&bufs.a, kn.mc*kn.kc), func(_, p0, kb, _ int) []float32 {
				return p.blocks[p0/kn.kc][ja*kb:]
			})
		})
	default:
		parallel.For(m, max(1, minWork/(p.n*p.k)), rows)
	}
}

// packA copies op(A)[i0:i0+mb, p0:p0+kb] into dst as mr-row panels, each
// laid out column by column (mr values per step of k), zero-padding the
// last panel's missing rows.
func packA(mr int, trans bool, a []float32, lda, i0, p0, mb, kb int, dst []float32) {
	if last := mb / mr * mr; last < mb {
		clear(dst[last*kb : last*kb+mr*kb])
	}
	if !trans { // only a last, short panel: its rows strided into place
		for r := 0; r < mb; r++ {
			panel := dst[r/mr*mr*kb:]
			src := a[(i0+r)*lda+p0 : (i0+r)*lda+p0+kb]
			for p, v := range src {
				panel[p*mr+r%mr] = v
			}
		}
		return
	}
	// op(A)[i, p] = a[p*lda+i]: a step of k is a contiguous run of A's row
	// p. Each row is read once, left to right, and dealt to the panels: a
	// panel-at-a-time order would read kb rows lda apart per panel, a TLB
	// miss each when lda is large (the conv weight gradient's x^T). On the
	// AVX-512 kernel four rows are dealt together, so that each panel gets
	// three whole cache lines at a time instead of a part of one.
	p := 0
	if mr == 12 {
		for ; p+4 <= kb; p += 4 {
			packT12x4(a[(p0+p)*lda+i0:], lda, mb, kb, dst[p*12:])
		}
	}
	for ; p < kb; p++ {
		row := a[(p0+p)*lda+i0 : (p0+p)*lda+i0+mb]
		ir := 0
		switch mr {
		case 6:
			for ; ir+6 <= mb; ir += 6 {
				v := *(*[6]float32)(row[ir:]) // through a local: see packT12x4
				*(*[6]float32)(dst[ir*kb+p*6:]) = v
			}
		case 12:
			for ; ir+12 <= mb; ir += 12 {
				v := *(*[12]float32)(row[ir:])
				*(*[12]float32)(dst[ir*kb+p*12:]) = v
			}
		}
		for ; ir < mb; ir += mr {
			mm := min(mr, mb-ir)
			copy(dst[ir*kb+p*mr:ir*kb+p*mr+mm], row[ir:ir+mm])
		}
	}
}

// packT12x4 deals mb values of four rows of a (lda apart) to 12-row
// panels kb*12 apart in dst. Whole panels copy as fixed-size arrays through
// a local: a copy between two slices may overlap, so the compiler calls
// memmove for it, and the call cost more than the 48 bytes it moved.
func packT12x4(a []float32, lda, mb, kb int, dst []float32) {
	r0, r1, r2, r3 := a[:mb], a[lda:lda+mb], a[2*lda:2*lda+mb], a[3*lda:3*lda+mb]
	ir := 0
	for ; ir+12 <= mb; ir += 12 {
		d := dst[ir*kb : ir*kb+48]
		v0, v1 := *(*[12]float32)(r0[ir:]), *(*[12]float32)(r1[ir:])
		v2, v3 := *(*[12]float32)(r2[ir:]), *(*[12]float32)(r3[ir:])
		*(*[12]float32)(d[0:]), *(*[12]float32)(d[12:]) = v0, v1
		*(*[12]float32)(d[24:]), *(*[12]float32)(d[36:]) = v2, v3
	}
	if mm := mb - ir; mm > 0 { // the last, short panel
		d := dst[ir*kb:]
		copy(d[0:mm], r0[ir:])
		copy(d[12:12+mm], r1[ir:])
		copy(d[24:24+mm], r2[ir:])
		copy(d[36:36+mm], r3[ir:])
	}
}

// packRows copies kb rows of nr floats, ldb apart, into the contiguous
// panel, through a local as packA does; false if nr is no kernel's width
// or the panel is short.
func packRows(nr, nn int, b []float32, ldb, kb int, panel []float32) bool {
	if nn != nr {
		return false
	}
	switch nr {
	case 16:
		for p := 0; p < kb; p++ {
			v := *(*[16]float32)(b[p*ldb:])
			*(*[16]float32)(panel[p*16:]) = v
		}
	case 32:
		for p := 0; p < kb; p++ {
			v := *(*[32]float32)(b[p*ldb:])
			*(*[32]float32)(panel[p*32:]) = v
		}
	default:
		return false
	}
	return true
}

// packB copies op(B)[p0:p0+kb, j0:j0+nb] into dst as nr-column panels,
// each laid out row by row (nr values per step of k), zero-padding the
// last panel's missing columns.
func packB(nr int, trans bool, b []float32, ldb, p0, j0, kb, nb int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		panel := dst[jr*kb : jr*kb+nr*kb]
		if nn < nr {
			clear(panel)
		}
		if !trans { // op(B)[p, j] = b[p*ldb+j]: each step of k is contiguous
			if packRows(nr, nn, b[p0*ldb+j0+jr:], ldb, kb, panel) {
				continue
			}
			for p := 0; p < kb; p++ {
				src := b[(p0+p)*ldb+j0+jr:]
				copy(panel[p*nr:p*nr+nn], src[:nn])
			}
			continue
		}
		for cidx := 0; cidx < nn; cidx++ {
			src := b[(j0+jr+cidx)*ldb+p0 : (j0+jr+cidx)*ldb+p0+kb]
			for p, v := range src {
				panel[p*nr+cidx] = v
			}
		}
	}
}
