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
	out, _ := resizeRows(func(y int, row []float32) error {
		copy(row, src[y*sw*c:(y+1)*sw*c])
		return nil
	}, sh, sw, c, dh, dw)
	return out
}

// resizeRows is Resize of an image given a source row at a time (row y
// written into row by fill, which may fail): only one source row and the
// dh rows of the first pass are held, never the whole source image in
// floats. Each output row adds its source rows in ascending order, as
// resampleAxis does, so the result is Resize's to the bit.
func resizeRows(fill func(y int, row []float32) error, sh, sw, c, dh, dw int) ([]float32, error) {
	stride := sw * c
	rows := make([]float32, dh*stride) // along H: rows of sw*c values
	bySource := make([][]tap, sh)      // for each source row, its output rows and weights
	for i, ts := range filterTaps(sh, dh) {
		for _, t := range ts {
			bySource[t.index] = append(bySource[t.index], tap{i, t.weight})
		}
	}
	row := make([]float32, stride)
	for y := range sh {
		if err := fill(y, row); err != nil {
			return nil, err
		}
		for _, t := range bySource[y] {
			d := rows[t.index*stride : (t.index+1)*stride]
			for j, v := range row {
				d[j] += t.weight * v
			}
		}
	}
	// Along W, row by row: sw pixels of c channels each. The taps are the
	// same for every row; making them per row was most of a resize.
	out, wt := make([]float32, dh*dw*c), filterTaps(sw, dw)
	for y := 0; y < dh; y++ {
		resampleAxis(out[y*dw*c:(y+1)*dw*c], rows[y*stride:(y+1)*stride], wt, c)
	}
	return out, nil
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
