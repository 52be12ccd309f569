package gemm

import (
	"fmt"

	"github.com/graft-ml/graft/internal/util/parallel"
)

// Sgemm computes C = alpha*op(A)*op(B) + beta*C for row-major matrices,
// where op(X) is X or its transpose. op(A) is m x k, op(B) is k x n, C is
// m x n; lda, ldb and ldc are the row strides of A, B and C as stored.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	SgemmEp(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, nil)
}

// SgemmEp is Sgemm followed by the epilogue ep (nil: none), applied as each
// value of C is stored for the last time.
func SgemmEp(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ep *Epilogue) {
	if m == 0 || n == 0 {
		return
	}
	checkOperand("A", transA, m, k, a, lda)
	checkOperand("B", transB, k, n, b, ldb)
	checkOperand("C", false, m, n, c, ldc)
	ep.check(m, n)
	if k == 0 { // op(A)*op(B) is zero; BLAS would read empty slices
		for i := 0; i < m; i++ {
			row := c[i*ldc : i*ldc+n]
			if beta == 0 { // BLAS: C is not read, so NaN in it is overwritten
				clear(row)
				continue
			}
			for j := range row {
				row[j] *= beta
			}
		}
		ep.apply(c, ldc, 0, 0, m, n)
		return
	}
	// Split the rows of C across cores; op(A)'s rows are A's rows, or
	// its columns when transposed.
	parallel.For(m, max(1, minWork/(n*k)), func(lo, hi int) {
		ao := lo * lda
		if transA {
			ao = lo
		}
		if kn := kern; kn != nil {
			sgemmPacked(kn, transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc, ep.shift(lo, 0))
			return
		}
		sgemm(transA, transB, hi-lo, n, k, alpha, a[ao:], lda, b, ldb, beta, c[lo*ldc:], ldc)
		ep.apply(c[lo*ldc:], ldc, lo, 0, hi-lo, n)
	})
}

// minWork is the multiply-adds below which a GEMM runs on one core.
const minWork = 1 << 18

// checkOperand panics when a caller passes a slice too short for the shape:
// that is a programming error inside graft, never user input, and letting it
// reach BLAS would corrupt memory instead of failing.
func checkOperand(name string, trans bool, rows, cols int, x []float32, ld int) {
	if trans {
		rows, cols = cols, rows
	}
	if rows == 0 || cols == 0 {
		return
	}
	if ld < cols || len(x) < (rows-1)*ld+cols {
		panic(fmt.Sprintf("gemm: operand %s (%dx%d, ld %d) needs %d values, has %d", name, rows, cols, ld, (rows-1)*ld+cols, len(x)))
	}
}
