//go:build !amd64 || purego_noasm

package native

var hasVec, has512 = false, false

func fmaddAsm(dst, x, f *float32, n int) { panic("native: no vector loops on this platform") }

func biasClampAsm(y, bias *float32, rows, o int, lo, hi float32) {
	panic("native: no vector loops on this platform")
}

func sigmoidAsm(y *float32, n int, negBeta float32, mul int, t *[14][8]float32) {
	panic("native: no vector loops on this platform")
}

func dwAsm(y, x *float32, off *int, f *float32, ntaps, npix, xstep, c int, bias *float32, lo, hi float32) {
	panic("native: no vector loops on this platform")
}

func addMulAsm(dst, a, b *float32, n int, mul int) { panic("native: no vector loops on this platform") }

func sigmoid512Asm(y *float32, n int, negBeta float32, mul int, t *[14][8]float32) {
	panic("native: no vector loops on this platform")
}

func dw512Asm(y, x *float32, off *int, f *float32, ntaps, npix, xstep, c int, bias *float32, lo, hi float32) {
	panic("native: no vector loops on this platform")
}

func maxAsm(dst, x *float32, n int) { panic("native: no vector loops on this platform") }
