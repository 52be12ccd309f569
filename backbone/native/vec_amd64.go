//go:build amd64 && !purego_noasm

package native

import "golang.org/x/sys/cpu"

// hasVec is whether this CPU runs the AVX2+FMA loops of vec_amd64.s.
var hasVec = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// fmaddAsm adds x[i]*f[i] to dst[i] for i < n.
//
//go:noescape
func fmaddAsm(dst, x, f *float32, n int)

// biasClampAsm sets y[r*o+j] = min(max(y[r*o+j]+bias[j], lo), hi) for
// rows r < rows and channels j < o; NaN stays NaN.
//
//go:noescape
func biasClampAsm(y, bias *float32, rows, o int, lo, hi float32)
