package gemm

import (
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"

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
var noAsmReason = "this graft was built without assembly kernels (for GOARCH " + runtime.GOARCH + ", or with the purego_noasm tag); the bf16 GEMM needs an amd64 build without purego_noasm"

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
func BF16Check() error { return bf16Check(hostFeatures, bf16Kernel != nil) }

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

// pair packs two values of k into one kernel word, the first in the lower half.
func pair(lo, hi float32) uint32 { return uint32(BF16Bits(lo)) | uint32(BF16Bits(hi))<<16 }

// PackedBF16 is a k x n matrix B rounded to bfloat16 and packed into the
// bf16 kernel's column panels, for products with several A (a conv tap's
// filter, used by every run of pixels the tap covers).
type PackedBF16 struct {
	k, n, kp, np int
	p            []uint32 // np panels of [kp][bf16NR] pairs
}

// RepackBF16 packs b (k x n, row-major, row stride ldb) into old's memory
// when it is large enough. Call BF16Check first: without the kernel,
// MulAdd panics.
func RepackBF16(old *PackedBF16, k, n int, b []float32, ldb int) *PackedBF16 {
	checkOperand("B", false, k, n, b, ldb)
	p := old
	if p == nil {
		p = new(PackedBF16)
	}
	p.k, p.n, p.kp, p.np = k, n, (k+1)/2, (n+bf16NR-1)/bf16NR
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
				r0 := b[2*q*ldb+j0 : 2*q*ldb+j0+nn]
				dst := panel[q*bf16NR : q*bf16NR+nn]
				if 2*q+1 == k { // odd k: the last pair's second value is 0
					for j, v := range r0 {
						dst[j] = pair(v, 0)
					}
					continue
				}
				r1 := b[(2*q+1)*ldb+j0 : (2*q+1)*ldb+j0+nn]
				for j, v := range r0 {
					dst[j] = pair(v, r1[j])
				}
			}
		}
	})
	return p
}

// Dims are B's rows (k) and columns (n).
func (p *PackedBF16) Dims() (k, n int) { return p.k, p.n }

type bf16Bufs struct{ a []uint32 }

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
	if bf16Kernel == nil {
		panic("gemm: PackedBF16.MulAdd in a build or on a CPU without the bf16 kernel: call BF16Check first")
	}
	checkOperand("A", transA, m, p.k, a, lda)
	checkOperand("C", false, m, p.n, c, ldc)
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
			packABF16(transA, a, lda, p0*bf16MR, min(m, p1*bf16MR), p.k, ap)
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

// packABF16 packs rows r0..r1-1 of op(A) (k columns) into 12-row panels of
// bf16 pairs at dst, zero-padding the last panel's missing rows and an odd
// k's last pair.
func packABF16(transA bool, a []float32, lda, r0, r1, k int, dst []uint32) {
	kp := (k + 1) / 2
	if n := (r1 - r0) % bf16MR; n != 0 {
		last := (r1 - r0) / bf16MR * kp * bf16MR
		clear(dst[last : last+kp*bf16MR])
	}
	if !transA { // a row of A is a row of op(A): its pairs are adjacent
		for i := r0; i < r1; i++ {
			row := a[i*lda : i*lda+k]
			panel := dst[(i-r0)/bf16MR*kp*bf16MR:]
			r := (i - r0) % bf16MR
			for q := 0; q < k/2; q++ {
				panel[q*bf16MR+r] = pair(row[2*q], row[2*q+1])
			}
			if k%2 == 1 {
				panel[(kp-1)*bf16MR+r] = pair(row[k-1], 0)
			}
		}
		return
	}
	// op(A)[i, p] = a[p*lda+i]: a pair is two rows of A, read left to right.
	for q := 0; q < kp; q++ {
		row0 := a[2*q*lda+r0 : 2*q*lda+r1]
		var row1 []float32
		if 2*q+1 < k {
			row1 = a[(2*q+1)*lda+r0 : (2*q+1)*lda+r1]
		}
		for i, v := range row0 {
			var w float32
			if row1 != nil {
				w = row1[i]
			}
			dst[i/bf16MR*kp*bf16MR+q*bf16MR+i%bf16MR] = pair(v, w)
		}
	}
}
