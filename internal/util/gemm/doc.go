// Package gemm is graft's single-precision matrix multiply, the routine that
// decides CPU speed for the head's conv and for the native backbone.
//
// A plain build (go build, go install, go test) needs nothing beyond Go. On
// x86-64 CPUs with AVX-512F, or AVX2 and FMA (checked at run time), it runs
// a packed, cache-blocked SGEMM: op(B) is packed into NR-column panels per
// KCxNC block, op(A) into MR-row panels per MCxKC block (row-major A is
// read in place), and an FMA micro-kernel in Go assembly (kernel_amd64.s)
// computes each MRxNR tile: 12x32 in ZMM registers on AVX-512F, 6x16 in YMM
// registers on AVX2; edge tiles go through a zero-padded scratch tile, and
// on AVX-512 a last panel of at most 8 rows runs on a 4-row tail kernel
// (kernel4x32) instead of the full 12. On blocks of few rows the first row
// panel's call also fetches the next panel of B into L2 (PackedB's column
// split, SplitsColumns, is the few-rows case). Every kernel sums each
// value in the same order, so they agree bit for bit.
// An Epilogue (PackedB.MulSet, SgemmEp: a bias per column, a residual, a
// clamp such as ReLU6) is applied as the last block of k stores C: in
// registers by the AVX-512 kernel, by a vector loop on the tile still in
// L1 for edge tiles and the AVX2 kernel, after the product elsewhere.
// GRAFT_GEMM=go-avx2 (or gonum) forces a slower path, for a CPU whose clock
// drops under 512-bit code or to compare. Elsewhere, or built with the
// "purego_noasm" tag, it uses gonum's pure-Go Sgemm, several times slower.
// Built with the "openblas" tag and cgo, it calls OpenBLAS's cblas_sgemm
// (Debian's libopenblas-dev); the Makefile adds the tag when pkg-config
// finds OpenBLAS. Backend reports the routine in use ("openblas",
// "go-avx512", "go-avx2" or "gonum") and FastHint how to get a faster one.
//
// PackedBF16 is the bf16 GEMM (the head's --precision bf16): inputs
// rounded to bfloat16, float32 sums, on AMX tiles where the CPU and Linux
// allow them, else on AVX512_BF16; BF16Check says why neither runs (a
// CPU without them, a build without assembly). Its instructions are
// byte-encoded in bf16_amd64.s, written by scripts/asm/bf16enc.py.
package gemm
