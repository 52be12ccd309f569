//go:build amd64 && !purego_noasm

package native

// winoCombAsm is winoComb's AVX-512F loop (winograd_amd64.s): offsets and
// steps in bytes, c a multiple of 16, at least one tap.
//
//go:noescape
func winoCombAsm(y, x *float32, off *int, coef *float32, ntaps, npix, xstep, ystep, c int)
