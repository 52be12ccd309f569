//go:build amd64 && !purego_noasm && !(cgo && openblas)

package gemm

import "golang.org/x/sys/cpu"

// hasAsm is whether this CPU runs the AVX2+FMA micro-kernel.
var hasAsm = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// kernel6x16 adds alpha times the product of a packed 6 x k panel of A and
// a packed k x 16 panel of B to the 6x16 tile of C at c (row stride ldc).
//
//go:noescape
func kernel6x16(k int, a, b, c *float32, ldc int, alpha float32)

// kernel6x16s is kernel6x16 with A unpacked: six rows of row-major A,
// lda apart, so a product with few columns skips packing A.
//
//go:noescape
func kernel6x16s(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32)
