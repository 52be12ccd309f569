//go:build !amd64 || purego_noasm

package native

func winoCombAsm(y, x *float32, off *int, coef *float32, ntaps, npix, xstep, ystep, c int) {
	panic("native: no vector loops on this platform")
}
