//go:build amd64 && !purego_noasm && !(cgo && openblas)

package gemm

import "golang.org/x/sys/cpu"

// hasEpAsm says epTileAsm runs here: AVX, which every CPU with a packed
// kernel has.
var hasEpAsm = cpu.X86.HasAVX2

// epTileAsm applies ke to the mm x nn block of C at c (row stride ldc),
// nn <= 32 (ke's bias and residual rows hold nn values, or point at
// zeros): Epilogue.apply's loop, 8 values a step.
//
//go:noescape
func epTileAsm(c *float32, ldc, mm, nn int, ke *kernelEp)
