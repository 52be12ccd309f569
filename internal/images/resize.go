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
	rows := make([]float32, dh*sw*c) // along H: rows of sw*c values
	resampleAxis(rows, src, filterTaps(sh, dh), sw*c)
	// Along W, row by row: sw pixels of c channels each. The taps are the
	// same for every row; making them per row was most of a resize.
	out, wt := make([]float32, dh*dw*c), filterTaps(sw, dw)
	for y := 0; y < dh; y++ {
		resampleAxis(out[y*dw*c:(y+1)*dw*c], rows[y*sw*c:(y+1)*sw*c], wt, c)
	}
	return out
}

// resampleAxis adds to dst (len(taps) items) the items of src, each a run
// of stride values, weighted by each output item's taps.
func resampleAxis(dst, src []float32, taps [][]tap, stride int) {
	for i, ts := range taps {
		d := dst[i*stride : (i+1)*stride]
		for _, t := range ts {
			s := src[t.index*stride : (t.index+1)*stride]
			for j, v := range s {
				d[j] += t.weight * v
			}
		}
	}
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
