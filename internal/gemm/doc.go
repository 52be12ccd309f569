// Package gemm is graft's single-precision matrix multiply, the routine that
// decides CPU speed for the head's conv and for the native backbone.
//
// A plain build (go build, go install, go test) uses gonum's pure-Go Sgemm:
// it needs nothing beyond Go. Built with the "openblas" tag and cgo, it calls
// OpenBLAS's cblas_sgemm (Debian's libopenblas-dev), several times faster;
// the Makefile adds the tag when pkg-config finds OpenBLAS. The choice is made
// at build time; Backend reports it and FastHint says how to get the fast one.
package gemm
