//go:build amd64 && !purego_noasm && !(cgo && openblas)

package gemm

import "golang.org/x/sys/cpu"

// kernels lists the assembly micro-kernels this CPU runs, fastest first.
// x/sys/cpu reports AVX-512F only when the OS also saves the ZMM state.
var kernels = amd64Kernels()

var (
	avx512 = &microKernel{name: "go-avx512", mr: 12, nr: 32, kc: 256, mc: 192, nc: 3072, packed: kernel12x32, direct: kernel12x32s, epi: true, tail: kernel4x32, tailRows: 4, prefetch: true}
	avx2   = &microKernel{name: "go-avx2", mr: 6, nr: 16, kc: 256, mc: 144, nc: 3072, packed: kernel6x16, direct: kernel6x16s}
)

func amd64Kernels() []*microKernel {
	var ks []*microKernel
	if cpu.X86.HasAVX512F {
		ks = append(ks, avx512)
	}
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		ks = append(ks, avx2)
	}
	return ks
}

// kernel6x16 adds alpha times the product of a packed 6 x k panel of A and
// a packed k x 16 panel of B to the 6x16 tile of C at c (row stride ldc);
// with set != 0 it stores the product instead, never reading C. It ignores
// ep (its epilogue runs in Go, after it: microKernel.epi is false).
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)

// kernel6x16s is kernel6x16 with A unpacked: six rows of row-major A,
// lda apart, so a product with few columns skips packing A.
//
//go:noescape
func kernel6x16s(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)

// kernel12x32 is kernel6x16 on AVX-512F: a 12x32 tile in 24 ZMM registers.
// With ep not nil it applies the epilogue to the tile in registers before
// it stores it (kernelEp: bias, residual, clamp).
//
//go:noescape
func kernel12x32(k int, a, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)

// kernel12x32s is kernel12x32 with A unpacked, twelve rows lda apart.
// Bit 1 of set is kernel12x32's set; bit 2 fetches the next panel of B
// (k*32 floats on) into L2 as it goes.
//
//go:noescape
func kernel12x32s(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32, set int, ep *kernelEp)

// kernel4x32 stores alpha times the product of the first four rows of a
// packed 12-row panel of A (a points at the first of them; its steps of k
// are 12 floats apart) and a packed k x 32 panel of B into the 4x32 tile
// at c: the last panel of a product, where fewer than 12 rows are left.
//
//go:noescape
func kernel4x32(k int, a, b, c *float32, ldc int, alpha float32)
