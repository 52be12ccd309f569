// Package gemm is graft's single-precision matrix multiply, the routine that
// decides CPU speed for the head's conv and for the native backbone.
//
// A plain build (go build, go install, go test) needs nothing beyond Go. On
// x86-64 CPUs with AVX2 and FMA (checked at run time) it runs a packed,
// cache-blocked SGEMM: op(B) is packed into 16-column panels per KCxNC
// block, op(A) into 6-row panels per MCxKC block (row-major A is read in
// place), and a 6x16 FMA micro-kernel in Go assembly (kernel_amd64.s)
// computes each tile; edge tiles go through a zero-padded scratch tile.
// Elsewhere, or built with the "purego_noasm" tag, it uses gonum's pure-Go
// Sgemm, several times slower. Built with the "openblas" tag and cgo, it
// calls OpenBLAS's cblas_sgemm (Debian's libopenblas-dev); the Makefile adds
// the tag when pkg-config finds OpenBLAS. Backend reports the routine in use
// ("openblas", "go-avx2" or "gonum") and FastHint how to get a faster one.
package gemm
