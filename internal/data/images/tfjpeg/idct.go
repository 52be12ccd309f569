package tfjpeg

import "math"

// The fast integer IDCT (libjpeg's JDCT_IFAST, TensorFlow's default): the
// Arai-Agui-Nakajima factorisation, whose output scaling is folded into
// the dequantisation, in libjpeg's fixed point for 8-bit samples.
const (
	ifastScaleBits = 2 // fraction bits of the scaled quantisation table
	fastConstBits  = 8 // fraction bits of the rotation constants
	pass1Bits      = 2 // fraction bits between the two passes

	fix1_082392200 = 277 // round(1.082392200 * 2^8): 2*(c2-c6)
	fix1_414213562 = 362 // 2*c4
	fix1_847759065 = 473 // 2*c2
	fix2_613125930 = 669 // 2*(c2+c6)
)

// aanScales[i] is 2^14 x s(u) x s(v) for the natural index i = 8v+u, with
// s(0) = 1 and s(k) = sqrt(2) cos(k pi/16): the AAN output scale factors.
var aanScales = func() (t [64]int32) {
	s := func(k int) float64 {
		if k == 0 {
			return 1
		}
		return math.Sqrt2 * math.Cos(float64(k)*math.Pi/16)
	}
	for v := 0; v < 8; v++ {
		for u := 0; u < 8; u++ {
			t[8*v+u] = int32(math.Round(16384 * s(v) * s(u)))
		}
	}
	return t
}()

// ifastTable scales a quantisation table by the AAN factors down to
// ifastScaleBits fraction bits, rounded, and kept to 16 bits as libjpeg's
// multiplier table is.
func ifastTable(q *[64]uint16) *[64]int32 {
	var t [64]int32
	const shift = 14 - ifastScaleBits
	for i := range t {
		t[i] = int32(int16((int64(q[i])*int64(aanScales[i]) + 1<<(shift-1)) >> shift))
	}
	return &t
}

// fmul is libjpeg's MULTIPLY here: a product with a constant of
// fastConstBits fraction bits, truncated (an arithmetic shift).
func fmul(v, c int32) int32 { return (v * c) >> fastConstBits }

// idctLimit maps an IDCT output (before the +128 level shift), masked to
// 10 bits, to a sample as libjpeg's range-limit table does: -128..-1 and
// 0..127 shift to 0..255, larger values clamp to 255 and smaller to 0,
// and values past +-512 wrap.
var idctLimit = func() (t [1024]uint8) {
	for i := range t {
		x := i
		if i >= 512 {
			x = i - 1024
		}
		t[i] = uint8(min(max(x+128, 0), 255))
	}
	return t
}()

// idctIFAST dequantises blk (natural order) with the scaled table qt and
// writes the 8x8 samples to out (rows stride apart).
func idctIFAST(blk *[64]int32, qt *[64]int32, out []uint8, stride int) {
	var ws [64]int32
	// Pass 1: columns, from the dequantised coefficients (16-bit, as
	// libjpeg keeps them).
	for c := 0; c < 8; c++ {
		if blk[8+c] == 0 && blk[16+c] == 0 && blk[24+c] == 0 && blk[32+c] == 0 &&
			blk[40+c] == 0 && blk[48+c] == 0 && blk[56+c] == 0 {
			dc := int32(int16(blk[c])) * qt[c]
			for r := 0; r < 64; r += 8 {
				ws[r+c] = dc
			}
			continue
		}
		var x [8]int32
		for r := range x {
			x[r] = int32(int16(blk[8*r+c])) * qt[8*r+c]
		}
		butterfly(&x)
		for r := range x {
			ws[8*r+c] = x[r]
		}
	}
	// Pass 2: rows, then the descale, level shift and range limit.
	const shift = pass1Bits + 3
	for r := 0; r < 8; r++ {
		x := (*[8]int32)(ws[8*r : 8*r+8])
		row := out[r*stride : r*stride+8 : r*stride+8]
		if x[1] == 0 && x[2] == 0 && x[3] == 0 && x[4] == 0 && x[5] == 0 && x[6] == 0 && x[7] == 0 {
			v := idctLimit[(x[0]>>shift)&1023]
			for i := range row {
				row[i] = v
			}
			continue
		}
		butterfly(x)
		for i := range row {
			row[i] = idctLimit[(x[i]>>shift)&1023]
		}
	}
}

// butterfly is one 8-point AAN inverse DCT (T.81's IDCT up to the AAN
// scale factors) on x, in place, in libjpeg's operation order and
// truncations.
func butterfly(x *[8]int32) {
	// Even part.
	t10 := x[0] + x[4]
	t11 := x[0] - x[4]
	t13 := x[2] + x[6]
	t12 := fmul(x[2]-x[6], fix1_414213562) - t13
	e0 := t10 + t13
	e3 := t10 - t13
	e1 := t11 + t12
	e2 := t11 - t12
	// Odd part.
	z13 := x[5] + x[3]
	z10 := x[5] - x[3]
	z11 := x[1] + x[7]
	z12 := x[1] - x[7]
	t7 := z11 + z13
	t11 = fmul(z11-z13, fix1_414213562)
	z5 := fmul(z10+z12, fix1_847759065)
	t10 = fmul(z12, fix1_082392200) - z5
	t12 = fmul(z10, -fix2_613125930) + z5
	t6 := t12 - t7
	t5 := t11 - t6
	t4 := t10 + t5
	x[0], x[7] = e0+t7, e0-t7
	x[1], x[6] = e1+t6, e1-t6
	x[2], x[5] = e2+t5, e2-t5
	x[4], x[3] = e3+t4, e3-t4
}
