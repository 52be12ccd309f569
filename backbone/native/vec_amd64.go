//go:build amd64 && !purego_noasm

package native

import "golang.org/x/sys/cpu"

// hasVec is whether this CPU runs the AVX2+FMA loops of vec_amd64.s.
var hasVec = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// has512 is whether it also runs the AVX-512F loops (x/sys/cpu reports
// AVX-512F only when the OS saves the ZMM state).
var has512 = hasVec && cpu.X86.HasAVX512F

// fmaddAsm adds x[i]*f[i] to dst[i] for i < n.
//
//go:noescape
func fmaddAsm(dst, x, f *float32, n int)

// biasClampAsm sets y[r*o+j] = min(max(y[r*o+j]+bias[j], lo), hi) for
// rows r < rows and channels j < o; NaN stays NaN.
//
//go:noescape
func biasClampAsm(y, bias *float32, rows, o int, lo, hi float32)

// sigmoidAsm sets y[i] to s, or to y[i]*s when mul != 0, with
// s = 1/(1+exp(negBeta*y[i])), for n a multiple of 8; t is expTable.
//
//go:noescape
func sigmoidAsm(y *float32, n int, negBeta float32, mul int, t *[14][8]float32)

// dwAsm is the direct depthwise kernel (vec_amd64.s): npix output pixels,
// xstep bytes apart in x, c channels (a multiple of 16) each, every pixel
// summing ntaps taps given as byte offsets in off (x's, then f's), then
// adding bias and clamping to [lo, hi]. ntaps must be at least 1.
//
//go:noescape
func dwAsm(y, x *float32, off *int, f *float32, ntaps, npix, xstep, c int, bias *float32, lo, hi float32)

// addMulAsm sets dst[i] to a[i]+b[i], or a[i]*b[i] when mul != 0, for n
// a multiple of 8.
//
//go:noescape
func addMulAsm(dst, a, b *float32, n int, mul int)

// sigmoid512Asm is sigmoidAsm on AVX-512F, for n a multiple of 16.
//
//go:noescape
func sigmoid512Asm(y *float32, n int, negBeta float32, mul int, t *[14][8]float32)

// dw512Asm is dwAsm on AVX-512F, for c a multiple of 32.
//
//go:noescape
func dw512Asm(y, x *float32, off *int, f *float32, ntaps, npix, xstep, c int, bias *float32, lo, hi float32)

// maxAsm sets dst[i] to max(dst[i], x[i]), NaN where either is, for n a
// multiple of 8.
//
//go:noescape
func maxAsm(dst, x *float32, n int)
