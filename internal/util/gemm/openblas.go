//go:build cgo && openblas

package gemm

/*
#cgo pkg-config: openblas
#include <cblas.h>
*/
import "C"

// Backend names the matrix routine this build uses.
const Backend = "openblas"

// BatchInvariant says whether a row of C is the same bits whatever the
// number of rows: OpenBLAS picks its blocking by the matrix's size, so a
// sample's features can differ in the last bit with the batch it was in.
const BatchInvariant = false

// OpenBLAS runs single-threaded: Sgemm splits the work across cores
// itself, so that OpenBLAS's own threads never wake for small products
// or contend with goroutines that already use every core.
func init() { C.openblas_set_num_threads(1) }

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ta, tb := uint32(C.CblasNoTrans), uint32(C.CblasNoTrans)
	if transA {
		ta = C.CblasTrans
	}
	if transB {
		tb = C.CblasTrans
	}
	C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(m), C.blasint(n), C.blasint(k),
		C.float(alpha), (*C.float)(&a[0]), C.blasint(lda), (*C.float)(&b[0]), C.blasint(ldb),
		C.float(beta), (*C.float)(&c[0]), C.blasint(ldc))
}

// FastHint is empty: this build already has the fast GEMM.
const FastHint = ""
