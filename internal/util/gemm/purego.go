//go:build !cgo || !openblas

package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Backend names the matrix routine this build uses on this CPU: "go-avx512"
// or "go-avx2" for the packed Go-assembly kernels, "gonum" for gonum's
// pure-Go Sgemm.
var Backend = backendName()

// BatchInvariant says whether a row of C is the same bits whatever the
// number of rows: graft's kernels and gonum's sum each product in one
// order, so a sample's features do not depend on its batch.
const BatchInvariant = true

// FastHint says which pure-Go GEMM runs: on the assembly kernel, that
// OpenBLAS is optional; on gonum, how to get a several times faster one.
var FastHint = fastHint()

func backendName() string { return kernelName(kern) }

func fastHint() string {
	if override != "" {
		return override
	}
	if kern != nil {
		return "Go-assembly GEMM (" + kern.name + ") in use, no cgo needed; OpenBLAS (go build -tags openblas) is optional"
	}
	return "pure-Go GEMM in use (this CPU or build has no AVX2+FMA kernel); for several times faster CPU training install OpenBLAS (apt-get install libopenblas-dev pkg-config) and rebuild with make (or go build -tags openblas)"
}

// sgemm is the product where no packed kernel runs (Sgemm picks the
// packed one where it does): gonum's.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := blas.NoTrans, blas.NoTrans
	if transA {
		ta = blas.Trans
	}
	if transB {
		tb = blas.Trans
	}
	gonum.Implementation{}.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}
