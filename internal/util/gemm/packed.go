package gemm

import (
	"sync"

	"github.com/graft-ml/graft/internal/util/parallel"
)

// The packed SGEMM follows the BLIS layout: op(B) is copied a KC x NC block
// at a time into NR-wide column panels, op(A) an MC x KC block at a time into
// MR-tall row panels, so that the micro-kernel streams both from contiguous
// memory whatever the transposes and strides were. The last panels are
// padded with zeros; the kernel always computes a full MR x NR tile, and
// edge tiles go through a scratch tile before the valid part is added to C.
const (
	mr = 6   // rows of a micro-tile: 12 YMM accumulators plus 3 scratch
	nr = 16  // columns of a micro-tile: two YMM registers
	kc = 256 // depth of a block: an NR panel of B (16 KiB) stays in L1
	mc = 144 // rows of an A block (144 KiB packed) that stays in L2
	nc = 3072
)

// useAsm selects the packed assembly path; tests flip it to cover both.
var useAsm = hasAsm

type packBufs struct{ a, b []float32 }

var bufPool = sync.Pool{New: func() any {
	return &packBufs{a: make([]float32, mc*kc), b: make([]float32, kc*nc)}
}}

// sgemmPacked is sgemm for m, n, k > 0 on the packed kernel.
func sgemmPacked(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	// Scale C by beta first so every block after it only accumulates.
	// beta == 0 overwrites without reading: C may hold NaN (BLAS rules).
	if beta != 1 {
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
		return
	}
	bufs := bufPool.Get().(*packBufs)
	defer bufPool.Put(bufs)
	sgemmBlocks(transA, m, n, k, alpha, a, lda, c, ldc, bufs.a, func(j0, p0, kb, nb int) []float32 {
		packB(transB, b, ldb, p0, j0, kb, nb, bufs.b)
		return bufs.b
	})
}

// sgemmBlocks is the blocked product C += alpha*op(A)*B, with C already
// scaled by beta; panelB returns the packed KC x NC block of B at (p0, j0)
// (packed on the fly, or once for all calls: PackedB).
func sgemmBlocks(transA bool, m, n, k int, alpha float32, a []float32, lda int, c []float32, ldc int, bufA []float32, panelB func(j0, p0, kb, nb int) []float32) {
	var tile [mr * nr]float32
	for j0 := 0; j0 < n; j0 += nc {
		nb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			pb := panelB(j0, p0, kb, nb)
			for i0 := 0; i0 < m; i0 += mc {
				mb := min(mc, m-i0)
				// Row-major A is read in place by kernel6x16s: packing it
				// costs as much as the product when n is small (a conv's
				// filters). Only a last panel of fewer than MR rows is
				// packed, zero-padded. Transposed A is always packed.
				direct := !transA
				if direct {
					if full := mb / mr * mr; full < mb {
						packA(false, a, lda, i0+full, p0, mb-full, kb, bufA)
					}
				} else {
					packA(transA, a, lda, i0, p0, mb, kb, bufA)
				}
				for jr := 0; jr < nb; jr += nr {
					nn := min(nr, nb-jr)
					bp := &pb[jr*kb]
					for ir := 0; ir < mb; ir += mr {
						mm := min(mr, mb-ir)
						co := (i0+ir)*ldc + j0 + jr
						dst, ldd := &c[co], ldc
						if mm < mr || nn < nr {
							clear(tile[:])
							dst, ldd = &tile[0], nr
						}
						switch {
						case direct && mm == mr:
							kernel6x16s(kb, &a[(i0+ir)*lda+p0], lda, bp, dst, ldd, alpha)
						case direct:
							kernel6x16(kb, &bufA[0], bp, dst, ldd, alpha)
						default:
							kernel6x16(kb, &bufA[ir*kb], bp, dst, ldd, alpha)
						}
						if dst != &tile[0] {
							continue
						}
						for i := 0; i < mm; i++ {
							row := c[co+i*ldc : co+i*ldc+nn]
							for j := range row {
								row[j] += tile[i*nr+j]
							}
						}
					}
				}
			}
		}
	}
}

// packA copies op(A)[i0:i0+mb, p0:p0+kb] into dst as MR-row panels, each
// laid out column by column (MR values per step of k), zero-padding the
// last panel's missing rows.
// PackedB is a constant k x n matrix B (row-major) packed once into the
// panels the packed SGEMM reads, for products with many different A (a
// convolution's filter, reused by every batch): MulAdd skips packing B.
type PackedB struct {
	k, n   int
	blocks [][]float32 // KC x NC blocks, j0-major as sgemmBlocks visits them
}

// PackB packs b (k x n, row stride ldb); nil where the packed assembly
// path is not in use (OpenBLAS, no AVX2): callers then use Sgemm.
func PackB(k, n int, b []float32, ldb int) *PackedB {
	if !useAsm || k == 0 || n == 0 {
		return nil
	}
	checkOperand("B", false, k, n, b, ldb)
	p := &PackedB{k: k, n: n}
	for j0 := 0; j0 < n; j0 += nc {
		nb := min(nc, n-j0)
		for p0 := 0; p0 < k; p0 += kc {
			kb := min(kc, k-p0)
			blk := make([]float32, (nb+nr-1)/nr*nr*kb)
			packB(false, b, ldb, p0, j0, kb, nb, blk)
			p.blocks = append(p.blocks, blk)
		}
	}
	return p
}

// Dims are B's rows (k) and columns (n).
func (p *PackedB) Dims() (k, n int) { return p.k, p.n }

// MulAdd adds A*B to C (m x n, row stride ldc) for row-major A (m x k,
// row stride lda), across GOMAXPROCS workers as Sgemm. It adds rather than
// sets so that a freshly allocated (zero) C is not cleared a second time.
func (p *PackedB) MulAdd(m int, a []float32, lda int, c []float32, ldc int) {
	if m == 0 {
		return
	}
	checkOperand("A", false, m, p.k, a, lda)
	checkOperand("C", false, m, p.n, c, ldc)
	nkb := (p.k + kc - 1) / kc
	parallel.For(m, max(1, minWork/(p.n*p.k)), func(lo, hi int) {
		bufs := bufPool.Get().(*packBufs)
		defer bufPool.Put(bufs)
		sgemmBlocks(false, hi-lo, p.n, p.k, 1, a[lo*lda:], lda, c[lo*ldc:], ldc, bufs.a, func(j0, p0, _, _ int) []float32 {
			return p.blocks[j0/nc*nkb+p0/kc]
		})
	})
}

func packA(trans bool, a []float32, lda, i0, p0, mb, kb int, dst []float32) {
	for ir := 0; ir < mb; ir += mr {
		mm := min(mr, mb-ir)
		panel := dst[ir*kb : ir*kb+mr*kb]
		if mm < mr {
			clear(panel)
		}
		if trans { // op(A)[i, p] = a[p*lda+i]: each step of k is contiguous
			for p := 0; p < kb; p++ {
				o := (p0+p)*lda + i0 + ir
				if mm == mr { // six stores beat a call to copy per step
					src, d := a[o:o+mr:o+mr], panel[p*mr:p*mr+mr:p*mr+mr]
					d[0], d[1], d[2], d[3], d[4], d[5] = src[0], src[1], src[2], src[3], src[4], src[5]
					continue
				}
				copy(panel[p*mr:p*mr+mm], a[o:o+mm])
			}
			continue
		}
		if mm == mr { // six rows read in step, the panel written in order
			o := (i0+ir)*lda + p0
			r0, r1, r2 := a[o:o+kb], a[o+lda:o+lda+kb], a[o+2*lda:o+2*lda+kb]
			r3, r4, r5 := a[o+3*lda:o+3*lda+kb], a[o+4*lda:o+4*lda+kb], a[o+5*lda:o+5*lda+kb]
			for p := range r0 {
				d := panel[p*mr : p*mr+mr : p*mr+mr]
				d[0], d[1], d[2], d[3], d[4], d[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
			}
			continue
		}
		for r := 0; r < mm; r++ {
			src := a[(i0+ir+r)*lda+p0 : (i0+ir+r)*lda+p0+kb]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
	}
}

// packB copies op(B)[p0:p0+kb, j0:j0+nb] into dst as NR-column panels,
// each laid out row by row (NR values per step of k), zero-padding the
// last panel's missing columns.
func packB(trans bool, b []float32, ldb, p0, j0, kb, nb int, dst []float32) {
	for jr := 0; jr < nb; jr += nr {
		nn := min(nr, nb-jr)
		panel := dst[jr*kb : jr*kb+nr*kb]
		if nn < nr {
			clear(panel)
		}
		if !trans { // op(B)[p, j] = b[p*ldb+j]: each step of k is contiguous
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
