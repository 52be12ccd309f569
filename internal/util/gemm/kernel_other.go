//go:build !amd64 || purego_noasm || (cgo && openblas)

package gemm

// kernels is empty: there is no assembly kernel for this architecture or
// build, and gonum's Sgemm is faster than a Go micro-kernel would be.
var kernels []*microKernel
