package gemm

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/graft-ml/graft/internal/util/parallel"
)

// The bf16 GEMM rounds both inputs to bfloat16 (round to nearest even, the
// float32's top 16 bits) and sums their products in float32, with
// AVX512_BF16's VDPBF16PS: each float32 lane adds the products of one pair
// of bf16 values adjacent in k. So both operands are packed as pairs: op(A)
// into 12-row panels of [k/2][12] pairs, B into 32-column panels of
// [k/2][32] pairs, an odd k padded with a zero. It is the arithmetic of
// TensorFlow's mixed_bfloat16 matmuls except that C stays float32.
const (
	bf16MR = 12  // rows of a tile
	bf16NR = 32  // columns of a tile
	bf16KC = 128 // pairs of k per kernel call: a 16 KiB panel of B in L1
	bf16MC = 16  // A panels packed at a time: 192 rows, a block in L2
)

// noAsmReason is the refusal of a build without the kernel.
var noAsmReason = "this graft was built without assembly kernels (for GOARCH " + runtime.GOARCH + ", with the purego_noasm tag, or with -tags openblas: a cgo package cannot hold Go assembly); the bf16 GEMM needs a plain amd64 build (make build GEMM=purego, the default)"

// ErrNoBF16 is wrapped by BF16Check's refusal.
var ErrNoBF16 = errors.New("no bf16 GEMM on this CPU or build")

// CPUFeatures is what the bf16 GEMM needs to know about a CPU; tests make
// up CPUs that lack a feature.
type CPUFeatures struct {
	AVX2, AVX512F, AVX512BF16, AMXBF16, AMXTile bool
}

// flags lists the SIMD features f has, /proc/cpuinfo's names.
func (f CPUFeatures) flags() string {
	var s []string
	for _, x := range []struct {
		has  bool
		name string
	}{{f.AVX2, "avx2"}, {f.AVX512F, "avx512f"}, {f.AVX512BF16, "avx512_bf16"}, {f.AMXTile, "amx_tile"}, {f.AMXBF16, "amx_bf16"}} {
		if x.has {
			s = append(s, x.name)
		}
	}
	if len(s) == 0 {
		return "none of avx2, avx512f, avx512_bf16, amx"
	}
	return strings.Join(s, ", ")
}

// BF16Check says why the bf16 GEMM cannot run in this build on this CPU;
// nil when MulAdd of a PackedBF16 may be called.
func BF16Check() error { return bf16Check(hostFeatures, bf16Asm) }

// bf16Check is BF16Check for the CPU f and a build with (asm) or without
// the kernel.
func bf16Check(f CPUFeatures, asm bool) error {
	switch {
	case !asm:
		return fmt.Errorf("%w: %s", ErrNoBF16, noAsmReason)
	case !f.AVX512BF16:
		// Every CPU with AMX-BF16 so far also has AVX512_BF16, the
		// instructions the kernel uses.
		return fmt.Errorf("%w: it needs a CPU with AVX512_BF16 or AMX (Intel Cooper Lake, Sapphire Rapids or newer; AMD Zen 4 or newer), this one has neither (its SIMD flags: %s)", ErrNoBF16, f.flags())
	}
	return nil
}

// BF16Bits is x rounded to bfloat16, to nearest with ties to even: the
// top 16 bits of the result's float32. NaN stays a (quiet) NaN.
func BF16Bits(x float32) uint16 {
	u := math.Float32bits(x)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 0x40
	}
	return uint16((u + 0x7fff + (u>>16)&1) >> 16)
}

// RoundBF16 is x rounded to bfloat16, as a float32.
func RoundBF16(x float32) float32 { return math.Float32frombits(uint32(BF16Bits(x)) << 16) }

// ToBF16 rounds src into dst (BF16Bits each), sixteen at a time where the
// CPU has AVX-512.
func ToBF16(dst []uint16, src []float32) {
	n := len(src)
	_ = dst[n-1:]
	v := 0
	if toBF16Vec != nil && n >= 16 {
		v = n / 16 * 16
		toBF16Vec(&dst[0], &src[0], v)
	}
	for i := v; i < n; i++ {
		dst[i] = BF16Bits(src[i])
	}
}

// toBF16Rows rounds rows x cols of src (row stride ld) into dst (row
// stride cols), across GOMAXPROCS workers.
func toBF16Rows(dst []uint16, src []float32, rows, cols, ld int) {
	parallel.For(rows, parallel.Grain(cols), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			ToBF16(dst[r*cols:(r+1)*cols], src[r*ld:r*ld+cols])
		}
	})
}

// word joins two bf16 values adjacent in k into one kernel word.
func word(lo, hi uint16) uint32 { return uint32(lo) | uint32(hi)<<16 }

// growU16 is grow for uint16.
func growU16(s *[]uint16, n int) []uint16 {
	if cap(*s) < n {
		*s = make([]uint16, n)
	}
	return (*s)[:n]
}

// PackedBF16 is a k x n matrix B rounded to bfloat16 and packed into the
// bf16 kernel's column panels, for products with several A (a conv tap's
// filter, used by every run of pixels the tap covers).
type PackedBF16 struct {
	k, n, kp, np int
	p            []uint32 // np panels of [kp][bf16NR] pairs
}

// RepackBF16 packs b (k x n, row-major, row stride ldb), rounded to
// bfloat16, into old's memory when it is large enough. Call BF16Check
// first: without the kernel, MulAdd panics.
func RepackBF16(old *PackedBF16, k, n int, b []float32, ldb int) *PackedBF16 {
	checkOperand("B", false, k, n, b, ldb)
	t := bf16Pool.Get().(*bf16Bufs)
	defer bf16Pool.Put(t)
	r := growU16(&t.conv, k*n)
	toBF16Rows(r, b, k, n, ldb)
	return RepackRoundedBF16(old, k, n, r, n)
}

// RepackRoundedBF16 is RepackBF16 of a b already rounded (ToBF16).
func RepackRoundedBF16(old *PackedBF16, k, n int, b []uint16, ldb int) *PackedBF16 {
	checkOperand16("B", false, k, n, b, ldb)
	p := old
	if p == nil {
		p = new(PackedBF16)
	}
	// k/2 pairs, padded with zeros to AMX's step of 16 pairs (at most 15
	// more for the AVX-512 kernel, whose A is zero-padded alike).
	p.k, p.n, p.kp, p.np = k, n, (k+1)/2+(16-(k+1)/2%16)%16, (n+bf16NR-1)/bf16NR
	if cap(p.p) < p.np*p.kp*bf16NR {
		p.p = make([]uint32, p.np*p.kp*bf16NR)
	}
	p.p = p.p[:p.np*p.kp*bf16NR]
	parallel.For(p.np, 1, func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			panel := p.p[jp*p.kp*bf16NR : (jp+1)*p.kp*bf16NR]
			j0, nn := jp*bf16NR, min(bf16NR, n-jp*bf16NR)
			if nn < bf16NR {
				clear(panel)
			}
			for q := 0; q < p.kp; q++ {
				dst := panel[q*bf16NR : q*bf16NR+nn]
				if 2*q >= k { // the padding
					clear(dst)
					continue
				}
				r0 := b[2*q*ldb+j0 : 2*q*ldb+j0+nn]
				if 2*q+1 == k { // odd k: the last pair's second value is 0
					for j, v := range r0 {
						dst[j] = word(v, 0)
					}
					continue
				}
				r1 := b[(2*q+1)*ldb+j0 : (2*q+1)*ldb+j0+nn]
				for j, v := range r0 {
					dst[j] = word(v, r1[j])
				}
			}
		}
	})
	return p
}

// checkOperand16 is checkOperand for a bf16 matrix.
func checkOperand16(name string, trans bool, rows, cols int, x []uint16, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols || len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("gemm: bf16 operand %s (%dx%d, ld %d) needs %d values, has %d", name, rows, cols, ld, (rows-1)*ld+cols, len(x)))
	}
}

// Dims are B's rows (k) and columns (n).
func (p *PackedBF16) Dims() (k, n int) { return p.k, p.n }

type bf16Bufs struct {
	a    []uint32 // packed A
	conv []uint16 // an operand rounded, before packing
}

var bf16Pool = sync.Pool{New: func() any { return new(bf16Bufs) }}

// MulAdd adds op(A)*B to C (m x n, row stride ldc), op(A) m x k: A is
// row-major m x k (row stride lda), or with transA row-major k x m and
// read transposed. A is rounded to bfloat16 as it is packed; the products
// are summed in float32 (two at a time, then into C). Rows of C are split
// across GOMAXPROCS workers as Sgemm does.
func (p *PackedBF16) MulAdd(transA bool, m int, a []float32, lda int, c []float32, ldc int) {
	if m == 0 || p.n == 0 || p.k == 0 {
		return
	}
	checkOperand("A", transA, m, p.k, a, lda)
	t := bf16Pool.Get().(*bf16Bufs)
	defer bf16Pool.Put(t)
	rows, cols := m, p.k // A as stored
	if transA {
		rows, cols = p.k, m
	}
	r := growU16(&t.conv, rows*cols)
	toBF16Rows(r, a, rows, cols, lda)
	p.MulAddRounded(transA, m, r, cols, c, ldc)
}

// MulAddRounded is MulAdd of an A already rounded (ToBF16): a step that
// multiplies parts of one matrix several times rounds it once.
func (p *PackedBF16) MulAddRounded(transA bool, m int, a []uint16, lda int, c []float32, ldc int) {
	if m == 0 || p.n == 0 || p.k == 0 {
		return
	}
	if bf16Kernel == nil {
		panic("gemm: PackedBF16.MulAdd in a build or on a CPU without the bf16 kernel: call BF16Check first")
	}
	checkOperand16("A", transA, m, p.k, a, lda)
	checkOperand("C", false, m, p.n, c, ldc)
	if k, _ := amx(); k != nil && !noAMX {
		p.mulAddAMX(k, transA, m, a, lda, c, ldc)
		return
	}
	mp := (m + bf16MR - 1) / bf16MR
	parallel.For(mp, max(1, minWork/(bf16MR*p.n*p.k)), func(lo, hi int) {
		bufs := bf16Pool.Get().(*bf16Bufs)
		defer bf16Pool.Put(bufs)
		if n := bf16MC * p.kp * bf16MR; cap(bufs.a) < n {
			bufs.a = make([]uint32, n)
		}
		var scratch [bf16MR * bf16NR]float32
		for p0 := lo; p0 < hi; p0 += bf16MC {
			p1 := min(hi, p0+bf16MC)
			ap := bufs.a[:(p1-p0)*p.kp*bf16MR]
			packABF16(transA, a, lda, p0*bf16MR, min(m, p1*bf16MR), p.k, p.kp, ap)
			for q0 := 0; q0 < p.kp; q0 += bf16KC {
				kb := min(bf16KC, p.kp-q0)
				for jp := 0; jp < p.np; jp++ {
					bp := &p.p[(jp*p.kp+q0)*bf16NR]
					cols := min(bf16NR, p.n-jp*bf16NR)
					for ip := p0; ip < p1; ip++ {
						apan := &ap[((ip-p0)*p.kp+q0)*bf16MR]
						rows := min(bf16MR, m-ip*bf16MR)
						co := ip*bf16MR*ldc + jp*bf16NR
						if rows == bf16MR && cols == bf16NR {
							bf16Kernel(kb, apan, bp, &c[co], ldc)
							continue
						}
						clear(scratch[:])
						bf16Kernel(kb, apan, bp, &scratch[0], bf16NR)
						for i := 0; i < rows; i++ {
							row := c[co+i*ldc : co+i*ldc+cols]
							for j := range row {
								row[j] += scratch[i*bf16NR+j]
							}
						}
					}
				}
			}
		}
	})
}

// packABF16 packs rows r0..r1-1 of op(A) (k columns, rounded) into 12-row
// panels of kp pairs at dst, zero-padding the last panel's missing rows,
// an odd k's last pair and the pairs past k.
func packABF16(transA bool, a []uint16, lda, r0, r1, k, kp int, dst []uint32) {
	if n := (r1 - r0) % bf16MR; n != 0 {
		last := (r1 - r0) / bf16MR * kp * bf16MR
		clear(dst[last : last+kp*bf16MR])
	}
	if pad := (k + 1) / 2; pad < kp {
		for p0 := 0; p0 < (r1-r0+bf16MR-1)/bf16MR; p0++ {
			clear(dst[(p0*kp+pad)*bf16MR : (p0+1)*kp*bf16MR])
		}
	}
	if !transA { // a row of A is a row of op(A): its pairs are adjacent
		for i := r0; i < r1; i++ {
			row := a[i*lda : i*lda+k]
			panel := dst[(i-r0)/bf16MR*kp*bf16MR:]
			r := (i - r0) % bf16MR
			for q := 0; q < k/2; q++ {
				panel[q*bf16MR+r] = word(row[2*q], row[2*q+1])
			}
			if k%2 == 1 {
				panel[k/2*bf16MR+r] = word(row[k-1], 0)
			}
		}
		return
	}
	// op(A)[i, p] = a[p*lda+i]: a pair is two rows of A, read left to right.
	for q := 0; q < (k+1)/2; q++ {
		row0 := a[2*q*lda+r0 : 2*q*lda+r1]
		var row1 []uint16
		if 2*q+1 < k {
			row1 = a[(2*q+1)*lda+r0 : (2*q+1)*lda+r1]
		}
		for i, v := range row0 {
			var w uint16
			if row1 != nil {
				w = row1[i]
			}
			dst[i/bf16MR*kp*bf16MR+q*bf16MR+i%bf16MR] = word(v, w)
		}
	}
}

// The AMX path: 32x32 tiles of C (four 16x16 tile registers), k in steps
// of 32 (16 pairs), A packed per step into two 16x16-pair tiles.
const (
	amxMR = 32
	amxKC = 256 // pairs per call: a 32 KiB chunk of B's panel, and of A's block
	amxMC = 8   // A blocks packed at a time: 256 rows, 256 KiB at k = 1024
)

// noAMX makes MulAdd run the AVX512_BF16 kernel where AMX runs (tests
// cover both kernels).
var noAMX bool

// amxCfg is LDTILECFG's operand: palette 1, eight tiles of 16 rows of 64
// bytes.
var amxCfg = func() (cfg [64]byte) {
	cfg[0] = 1
	for t := range 8 {
		cfg[16+2*t] = 64
		cfg[48+t] = 16
	}
	return cfg
}()

// BF16Note says why AMX does not run on a CPU that has it ("" when it
// runs, or the CPU lacks it).
func BF16Note() string {
	if bf16Kernel == nil {
		return ""
	}
	_, note := amx()
	return note
}

// BF16Kernel names the kernel MulAdd runs: "amx", "avx512-bf16" or "".
func BF16Kernel() string {
	if bf16Kernel == nil {
		return ""
	}
	if k, _ := amx(); k != nil && !noAMX {
		return "amx"
	}
	return "avx512-bf16"
}

func (p *PackedBF16) mulAddAMX(amxKernel func(ks int, a, b *uint32, c *float32, ldc int, cfg *byte), transA bool, m int, a []uint16, lda int, c []float32, ldc int) {
	mb := (m + amxMR - 1) / amxMR
	blk := p.kp * amxMR // uint32s of one packed A block
	parallel.For(mb, max(1, minWork/(amxMR*p.n*p.k)), func(lo, hi int) {
		bufs := bf16Pool.Get().(*bf16Bufs)
		defer bf16Pool.Put(bufs)
		if n := amxMC * blk; cap(bufs.a) < n {
			bufs.a = make([]uint32, n)
		}
		var scratch [amxMR * bf16NR]float32
		for b0 := lo; b0 < hi; b0 += amxMC {
			b1 := min(hi, b0+amxMC)
			ap := bufs.a[:(b1-b0)*blk]
			packAAMX(transA, a, lda, b0*amxMR, min(m, b1*amxMR), p.k, p.kp, ap)
			for q0 := 0; q0 < p.kp; q0 += amxKC {
				ks := min(amxKC, p.kp-q0) / 16
				for jp := 0; jp < p.np; jp++ {
					bp := &p.p[(jp*p.kp+q0)*bf16NR]
					cols := min(bf16NR, p.n-jp*bf16NR)
					for ib := b0; ib < b1; ib++ {
						apan := &ap[(ib-b0)*blk+q0*amxMR]
						rows := min(amxMR, m-ib*amxMR)
						co := ib*amxMR*ldc + jp*bf16NR
						if rows == amxMR && cols == bf16NR {
							amxKernel(ks, apan, bp, &c[co], ldc, &amxCfg[0])
							continue
						}
						clear(scratch[:])
						amxKernel(ks, apan, bp, &scratch[0], bf16NR, &amxCfg[0])
						for i := 0; i < rows; i++ {
							row := c[co+i*ldc : co+i*ldc+cols]
							for j := range row {
								row[j] += scratch[i*bf16NR+j]
							}
						}
					}
				}
			}
		}
	})
}

// amxAt is where row i (0-31) of a 32-row block and pair q go: per step
// of 16 pairs, two 16x16 tiles (rows 0-15, then 16-31), row-major, which
// makes a step 32 rows of 16 pairs.
func amxAt(i, q int) int { return q/16*512 + i*16 + q%16 }

// packAAMX packs rows r0..r1-1 of op(A) (k columns, rounded) into 32-row
// blocks of kp pairs at dst (amxAt's layout), zero-padding missing rows
// and pairs.
func packAAMX(transA bool, a []uint16, lda, r0, r1, k, kp int, dst []uint32) {
	blk := kp * amxMR
	if (r1-r0)%amxMR != 0 || (k+1)/2 < kp {
		clear(dst[:(r1-r0+amxMR-1)/amxMR*blk])
	}
	if !transA { // 32 values of a row are one 64-byte row of a tile
		d16 := unsafe.Slice((*uint16)(unsafe.Pointer(&dst[0])), 2*len(dst))
		for i := r0; i < r1; i++ {
			row := a[i*lda : i*lda+k]
			b := d16[2*((i-r0)/amxMR*blk):]
			r := (i - r0) % amxMR
			p0 := 0
			for ; p0+32 <= k; p0 += 32 { // whole 64-byte rows, through a local as packA
				v := *(*[32]uint16)(row[p0:])
				*(*[32]uint16)(b[2*amxAt(r, p0/2):]) = v
			}
			if p0 < k {
				copy(b[2*amxAt(r, p0/2):2*amxAt(r, p0/2)+k-p0], row[p0:])
			}
		}
		return
	}
	// A pair is two rows of A; in a block, row i of op(A) is 16 words
	// after row i-1.
	var zeros [amxMR]uint16
	for q := 0; q < (k+1)/2; q++ {
		for b0 := r0; b0 < r1; b0 += amxMR {
			n := min(amxMR, r1-b0)
			row0 := a[2*q*lda+b0 : 2*q*lda+b0+n]
			row1 := zeros[:n]
			if 2*q+1 < k {
				row1 = a[(2*q+1)*lda+b0 : (2*q+1)*lda+b0+n]
			}
			d := dst[(b0-r0)/amxMR*blk+amxAt(0, q):]
			d = d[:16*(n-1)+1]
			for i, v := range row0 {
				d[16*i] = word(v, row1[i])
			}
		}
	}
}
