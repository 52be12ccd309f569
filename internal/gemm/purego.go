//go:build !cgo || !openblas

package gemm

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// Backend names the matrix routine this build uses.
const Backend = "gonum"

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

// FastHint tells a user of the pure-Go build how to get the OpenBLAS one.
const FastHint = "pure-Go GEMM in use; for several times faster CPU training install OpenBLAS (apt-get install libopenblas-dev pkg-config) and rebuild with make (or go build -tags openblas)"
