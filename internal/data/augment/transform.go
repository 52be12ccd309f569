package augment

import "math"

// Matrix maps an output pixel (x, y) to the input point it reads:
// (A[0]x + A[1]y + A[2], A[3]x + A[4]y + A[5]), pixel centres at integer
// coordinates: tf.raw_ops.ImageProjectiveTransformV3's transform without
// its projective terms.
type Matrix [6]float64

// Identity reads every pixel where it is.
var Identity = Matrix{1, 0, 0, 0, 1, 0}

// Then is m followed by n (n applied to m's output): the output of n reads
// m's output at n's point, which reads the input at m's point of that.
func (m Matrix) Then(n Matrix) Matrix {
	return Matrix{
		m[0]*n[0] + m[1]*n[3], m[0]*n[1] + m[1]*n[4], m[0]*n[2] + m[1]*n[5] + m[2],
		m[3]*n[0] + m[4]*n[3], m[3]*n[1] + m[4]*n[4], m[3]*n[2] + m[4]*n[5] + m[5],
	}
}

// FlipMatrix mirrors an image of width w left to right.
func FlipMatrix(w int) Matrix { return Matrix{-1, 0, float64(w - 1), 0, 1, 0} }

// RotationMatrix turns an h x w image by turns of a full turn about its
// centre, as keras.layers.RandomRotation draws factor*360 degrees.
func RotationMatrix(turns float64, h, w int) Matrix {
	s, c := math.Sincos(turns * 2 * math.Pi)
	cx, cy := float64(w-1)/2, float64(h-1)/2
	return Matrix{c, -s, cx - cx*c + cy*s, s, c, cy - cx*s - cy*c}
}

// ZoomMatrix scales about the centre as keras.layers.RandomZoom: zh and
// zw are 1 + the drawn factors (> 1 zooms out).
func ZoomMatrix(zh, zw float64, h, w int) Matrix {
	return Matrix{zw, 0, float64(w-1) / 2 * (1 - zw), 0, zh, float64(h-1) / 2 * (1 - zh)}
}

// TranslationMatrix moves the content dy pixels down and dx right, as
// keras.layers.RandomTranslation (its draws times the height and width).
func TranslationMatrix(dy, dx float64) Matrix { return Matrix{1, 0, -dx, 0, 1, -dy} }

// Warp resamples the h x w x c image src through m into dst (same size):
// bilinear, points outside reflected back in (d c b a | a b c d | d c b a),
// as ImageProjectiveTransformV3 with interpolation BILINEAR, fill_mode
// REFLECT and fill_value 0.
func Warp(dst, src []float32, h, w, c int, m Matrix) {
	for y := range h {
		for x := range w {
			fx, fy := float64(x), float64(y)
			sx := reflect(m[0]*fx+m[1]*fy+m[2], w)
			sy := reflect(m[3]*fx+m[4]*fy+m[5], h)
			x0, y0 := math.Floor(sx), math.Floor(sy)
			wx, wy := sx-x0, sy-y0
			ix, iy := int(x0), int(y0)
			out := dst[(y*w+x)*c : (y*w+x+1)*c]
			for k := range out {
				top := (1-wx)*at(src, iy, ix, k, h, w, c) + wx*at(src, iy, ix+1, k, h, w, c)
				bot := (1-wx)*at(src, iy+1, ix, k, h, w, c) + wx*at(src, iy+1, ix+1, k, h, w, c)
				out[k] = float32((1-wy)*top + wy*bot)
			}
		}
	}
}

// at is channel k of pixel (y, x), 0 outside the image (the fill value:
// after reflect only a neighbour at weight 0 can be outside).
func at(src []float32, y, x, k, h, w, c int) float64 {
	if y < 0 || y >= h || x < 0 || x >= w {
		return 0
	}
	return float64(src[(y*w+x)*c+k])
}

// reflect maps a coordinate on an axis of n pixels into [0, n-1] by
// reflecting it about the image's edges (the pixels' outer borders).
func reflect(v float64, n int) float64 {
	fn := float64(n)
	if n <= 1 {
		return 0
	}
	period := 2 * fn
	switch {
	case v < 0:
		v += period * math.Trunc(-v/period)
		if v < -fn {
			v += period
		} else {
			v = -v - 1
		}
	case v > fn-1:
		v -= period * math.Trunc(v/period)
		if v >= fn {
			v = period - v - 1
		}
	}
	return min(max(v, 0), fn-1)
}

// Brightness adds delta to every value, clipped to 0..255, as
// keras.layers.RandomBrightness with value_range (0, 255).
func Brightness(img []float32, delta float64) {
	for i, v := range img {
		img[i] = clip(float64(v) + delta)
	}
}

// Contrast moves each channel away from its mean over the image by
// factor, clipped to 0..255, as keras.layers.RandomContrast
// (tf.image.adjust_contrast, then the clip).
func Contrast(img []float32, c int, factor float64) {
	n := len(img) / c
	for k := range c {
		var sum float64
		for i := k; i < len(img); i += c {
			sum += float64(img[i])
		}
		mean := sum / float64(n)
		for i := k; i < len(img); i += c {
			img[i] = clip((float64(img[i])-mean)*factor + mean)
		}
	}
}

func clip(v float64) float32 { return float32(min(max(v, 0), 255)) }
