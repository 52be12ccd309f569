//go:build !amd64 || purego_noasm

package winograd

const has512 = false

func combAsm(y, x *float32, off *int, coef *float32, ntaps, npix, xstep, ystep, c int) {
	panic("winograd: no vector loop on this platform")
}
