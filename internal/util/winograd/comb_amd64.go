//go:build amd64 && !purego_noasm

package winograd

import "golang.org/x/sys/cpu"

// has512 is whether this CPU runs combAsm (x/sys/cpu reports AVX-512F only
// when the OS saves the ZMM state).
var has512 = cpu.X86.HasAVX512F

// combAsm is Comb's AVX-512F loop (comb_amd64.s): offsets and steps in
// bytes, c a multiple of 16, at least one tap.
//
//go:noescape
func combAsm(y, x *float32, off *int, coef *float32, ntaps, npix, xstep, ystep, c int)
