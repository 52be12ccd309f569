//go:build !amd64 || purego_noasm || (cgo && openblas)

package gemm

import "unsafe"

// hasAsm is false: there is no assembly kernel for this architecture or
// build, and gonum's Sgemm is faster than the Go kernel below.
const hasAsm = false

// kernel6x16 is the Go twin of the amd64 kernel, so the packed path builds
// everywhere; it only runs when a test forces useAsm on such a build.
func kernel6x16(k int, a, b, c *float32, ldc int, alpha float32) {
	kernelGo(k, unsafe.Slice(a, k*mr), 1, mr, b, c, ldc, alpha)
}

// kernel6x16s is the Go twin of the amd64 kernel on unpacked A.
func kernel6x16s(k int, a *float32, lda int, b, c *float32, ldc int, alpha float32) {
	kernelGo(k, unsafe.Slice(a, (mr-1)*lda+k), lda, 1, b, c, ldc, alpha)
}

// kernelGo reads A(i, p) at ap[i*rs+p*cs].
func kernelGo(k int, ap []float32, rs, cs int, b, c *float32, ldc int, alpha float32) {
	bp := unsafe.Slice(b, k*nr)
	cp := unsafe.Slice(c, (mr-1)*ldc+nr)
	var acc [mr * nr]float32
	for p := 0; p < k; p++ {
		for i := 0; i < mr; i++ {
			av := ap[i*rs+p*cs]
			for j := 0; j < nr; j++ {
				acc[i*nr+j] += av * bp[p*nr+j]
			}
		}
	}
	for i := 0; i < mr; i++ {
		for j := 0; j < nr; j++ {
			cp[i*ldc+j] += alpha * acc[i*nr+j]
		}
	}
}
