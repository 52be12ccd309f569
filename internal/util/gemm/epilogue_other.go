//go:build !amd64 || purego_noasm || (cgo && openblas)

package gemm

const hasEpAsm = false

func epTileAsm(c *float32, ldc, mm, nn int, ke *kernelEp) { panic("gemm: no epTileAsm in this build") }
