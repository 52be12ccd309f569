// Package gemm is graft's single-precision matrix multiply, the routine that
// decides CPU speed for the head's conv and for the native backbone.
//
// By default it calls OpenBLAS's cblas_sgemm through cgo (Debian's
// libopenblas-dev). Built with the "purego" tag, or with cgo disabled, it
// falls back to gonum's pure-Go Sgemm: about 8x slower, but it needs nothing
// beyond Go. The choice is made at build time; Backend reports it.
package gemm
