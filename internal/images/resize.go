package images

import "math"

// Resize resamples an HWC image of sh x sw to dh x dw with a separable
// triangle (bilinear) filter. When shrinking, the filter widens by the
// scale factor, so every source pixel contributes (antialiasing, as
// TensorFlow's resize with antialias=True); when enlarging it is plain
// bilinear with half-pixel centres.
func Resize(src []float32, sh, sw, c, dh, dw int) []float32 {
	if sh == dh && sw == dw {
		return append([]float32(nil), src...)
	}
	rows := resampleAxis(src, sh, sw*c, dh) // along H: rows of sw*c values
	// along W: for each of dh rows, sw pixels of c channels.
	out := make([]float32, dh*dw*c)
	for y := 0; y < dh; y++ {
		line := resampleAxis(rows[y*sw*c:(y+1)*sw*c], sw, c, dw)
		copy(out[y*dw*c:], line)
	}
	return out
}

// resampleAxis resamples n items of width stride (each item a run of
// stride values) to m items.
func resampleAxis(src []float32, n, stride, m int) []float32 {
	out := make([]float32, m*stride)
	for i, taps := range filterTaps(n, m) {
		dst := out[i*stride : (i+1)*stride]
		for _, t := range taps {
			s := src[t.index*stride : (t.index+1)*stride]
			for j, v := range s {
				dst[j] += t.weight * v
			}
		}
	}
	return out
}

type tap struct {
	index  int
	weight float32
}

// filterTaps lists, for each of m output positions, the source positions
// of n and their normalised triangle-filter weights.
func filterTaps(n, m int) [][]tap {
	scale := float64(n) / float64(m)
	support := math.Max(scale, 1) // triangle half-width in source pixels
	out := make([][]tap, m)
	for i := range out {
		center := (float64(i) + 0.5) * scale // in source pixel coordinates
		lo := max(int(math.Floor(center-support)), 0)
		hi := min(int(math.Ceil(center+support)), n)
		var sum float64
		var taps []tap
		for j := lo; j < hi; j++ {
			w := 1 - math.Abs(float64(j)+0.5-center)/support
			if w <= 0 {
				continue
			}
			taps = append(taps, tap{j, float32(w)})
			sum += w
		}
		if len(taps) == 0 { // output centre exactly between far pixels
			j := min(max(int(center), 0), n-1)
			taps, sum = []tap{{j, 1}}, 1
		}
		for k := range taps {
			taps[k].weight = float32(float64(taps[k].weight) / sum)
		}
		out[i] = taps
	}
	return out
}
