package head

import (
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// The conv head's convolution keeps its activations position-major
// ([H*W][batch][F]) and runs one of two ways.
//
// On wide features (C >= directMinChannels, a ResNet's 2048) it runs
// without im2col. The batch is gathered position-major ([H*W][batch][C]),
// so for one kernel tap (dy, dx) the inputs of all output pixels of a row,
// across the batch, are one strided matrix, and the tap's contribution is a
// plain GEMM against its C x F slice of the HWIO kernel. Taps are clipped
// at the borders rather than multiplied with zero padding: on a 7x7 map a
// 3x3 kernel has 361 valid (pixel, tap) pairs, not 441, so this does 18%
// fewer multiply-adds than im2col, and it never writes the k*k times larger
// column matrix.
//
// On narrow features the taps' GEMMs are too thin (K = C): repacking the
// pre-activation gradient for each of them cost as much as the products,
// so the convolution is one im2col GEMM (K = k*k*C), rows position-major.

// directMinChannels is the narrowest feature map convolved tap by tap. At
// 256 channels both ways took the same time (batch 32, 7x7, 256 filters);
// at 64 im2col was 15% faster, at 512 the taps 16%.
var directMinChannels = 256 // a variable so that tests take both ways

// tapRun is one GEMM of a tap: output pixels (y0..y1-1, x0..x1-1) read the
// input pixels shifted by the tap. When x0..x1 is the whole row, several
// rows are one contiguous run; otherwise a run is one row.
type tapRun struct {
	tap            int // dy*k + dx: the kernel slice
	out, in, width int // first output and input pixel (y*W+x), pixels per row
	rows           int // output rows (> 1 only for full-width runs)
}

// pixels is the number of output pixels in the run.
func (r tapRun) pixels() int { return r.width * r.rows }

// tapRuns lists the GEMMs of a same-padded kxk convolution on an h x w
// map, tap by tap.
func tapRuns(h, w, k int) []tapRun {
	pad := k / 2
	var runs []tapRun
	for dy := 0; dy < k; dy++ {
		y0, y1 := max(0, pad-dy), min(h, h+pad-dy)
		for dx := 0; dx < k; dx++ {
			x0, x1 := max(0, pad-dx), min(w, w+pad-dx)
			if y0 >= y1 || x0 >= x1 {
				continue // the tap never lands on the map
			}
			run := tapRun{tap: dy*k + dx, width: x1 - x0}
			at := func(y int) tapRun {
				r := run
				r.out, r.in, r.rows = y*w+x0, (y+dy-pad)*w+x0+dx-pad, 1
				return r
			}
			if x0 == 0 && x1 == w {
				r := at(y0)
				r.rows = y1 - y0
				runs = append(runs, r)
				continue
			}
			for y := y0; y < y1; y++ {
				runs = append(runs, at(y))
			}
		}
	}
	return runs
}

// gatherPositionMajor copies the selected samples of f into x, laid out
// [H*W][len(idx)][C].
func gatherPositionMajor(spec Spec, f []float32, idx []int32, x []float32) {
	hw, c, b, size := spec.Height*spec.Width, spec.Channels, len(idx), spec.FeatureSize()
	parallel.For(b, parallel.Grain(size), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			src := f[int(idx[i])*size : int(idx[i]+1)*size]
			for p := 0; p < hw; p++ {
				copy(x[(p*b+i)*c:(p*b+i+1)*c], src[p*c:(p+1)*c])
			}
		}
	})
}

// convForward leaves the pre-activations of the selected samples in act
// ([H*W][b][F], bias included) and the gathered input (o.x or o.col) for
// convWeightGrad.
func (o *CPUOps) convForward(spec Spec, kernel, bias, f []float32, idx []int32, act []float32) {
	b, c, nf := len(idx), spec.Channels, spec.Filters
	if o.wino = o.useWinograd(spec); o.wino {
		o.winoForward(spec, kernel, bias, f, idx, act)
		return
	}
	rows := len(act) / nf
	parallel.For(rows, parallel.Grain(nf), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			copy(act[r*nf:(r+1)*nf], bias)
		}
	})
	bf16 := o.prec == PrecisionBF16
	if c < directMinChannels {
		k := spec.Kernel * spec.Kernel * c
		col := grow(&o.col, rows*k)
		im2col(spec, f, idx, col)
		if bf16 {
			col16 := growU16(&o.in16, rows*k)
			gemm.ToBF16(col16, col)
			o.wholeBF16 = gemm.RepackBF16(o.wholeBF16, k, nf, kernel, nf)
			o.wholeBF16.MulAddRounded(false, rows, col16, k, act, nf)
			return
		}
		o.whole = gemm.RepackB(o.whole, k, nf, kernel, nf)
		o.whole.MulAdd(rows, col, k, act, nf)
		return
	}
	x := grow(&o.x, rows*c)
	gatherPositionMajor(spec, f, idx, x)
	o.packTaps(spec, kernel)
	if bf16 { // each tap reads most of x: round it once
		gemm.ToBF16(growU16(&o.in16, rows*c), x)
	}
	for _, r := range o.runs(spec) {
		if bf16 {
			o.tapsBF16[r.tap].MulAddRounded(false, r.pixels()*b, o.in16[r.in*b*c:], c, act[r.out*b*nf:], nf)
			continue
		}
		o.taps[r.tap].MulAdd(r.pixels()*b, x[r.in*b*c:], c, act[r.out*b*nf:], nf)
	}
}

// convWeightGrad writes the kernel's gradient, given the gradient of the
// pre-activations dAct ([H*W][b][F]) and the input gathered by convForward:
// for each tap, the sum over its runs of x^T dAct.
func (o *CPUOps) convWeightGrad(spec Spec, b int, dAct, dKernel []float32) {
	if o.wino {
		o.winoWeightGrad(spec, b, dAct, dKernel)
		return
	}
	c, nf := spec.Channels, spec.Filters
	bf16 := o.prec == PrecisionBF16
	if c < directMinChannels {
		rows, k := len(dAct)/nf, spec.Kernel*spec.Kernel*c
		if bf16 {
			clear(dKernel)
			o.dActBF16 = gemm.RepackBF16(o.dActBF16, rows, nf, dAct, nf)
			o.dActBF16.MulAddRounded(true, k, o.in16[:rows*k], k, dKernel, nf)
			return
		}
		gemm.Sgemm(true, false, k, nf, rows, 1, o.col[:rows*k], k, dAct, nf, 0, dKernel, nf)
		return
	}
	if bf16 {
		gemm.ToBF16(growU16(&o.dAct16, len(dAct)), dAct)
	}
	seen := make([]bool, spec.Kernel*spec.Kernel)
	for _, r := range o.runs(spec) {
		beta := float32(1)
		if !seen[r.tap] {
			beta, seen[r.tap] = 0, true
		}
		dk := dKernel[r.tap*c*nf : (r.tap+1)*c*nf]
		if bf16 {
			if beta == 0 {
				clear(dk)
			}
			o.dActBF16 = gemm.RepackRoundedBF16(o.dActBF16, r.pixels()*b, nf, o.dAct16[r.out*b*nf:], nf)
			o.dActBF16.MulAddRounded(true, c, o.in16[r.in*b*c:], c, dk, nf)
			continue
		}
		gemm.Sgemm(true, false, c, nf, r.pixels()*b, 1, o.x[r.in*b*c:], c, dAct[r.out*b*nf:], nf, beta, dk, nf)
	}
	for t, s := range seen { // a tap that never lands on the map has no gradient
		if !s {
			clear(dKernel[t*c*nf : (t+1)*c*nf])
		}
	}
}

// ConvAlgorithm names how the conv head of spec convolves on these ops:
// "winograd-4x4", "taps" (wide features) or "im2col"; "" for a linear head.
func (o *CPUOps) ConvAlgorithm(spec Spec) string {
	switch {
	case spec.Kind != KindConv:
		return ""
	case o.useWinograd(spec):
		return "winograd-4x4"
	case spec.Channels >= directMinChannels:
		return "taps"
	}
	return "im2col"
}

// runs caches tapRuns for the spec's map and kernel.
func (o *CPUOps) runs(spec Spec) []tapRun {
	key := [3]int{spec.Height, spec.Width, spec.Kernel}
	if o.runKey != key || o.tapRuns == nil {
		o.tapRuns, o.runKey = tapRuns(spec.Height, spec.Width, spec.Kernel), key
	}
	return o.tapRuns
}

// packTaps packs each tap's C x F kernel slice for the GEMM kernel, reusing
// the packing memory of the previous step.
func (o *CPUOps) packTaps(spec Spec, kernel []float32) {
	c, nf, kk := spec.Channels, spec.Filters, spec.Kernel*spec.Kernel
	if o.prec == PrecisionBF16 {
		if len(o.tapsBF16) != kk {
			o.tapsBF16 = make([]*gemm.PackedBF16, kk)
		}
		for t := range kk { // RepackBF16 splits its panels across cores
			o.tapsBF16[t] = gemm.RepackBF16(o.tapsBF16[t], c, nf, kernel[t*c*nf:(t+1)*c*nf], nf)
		}
		return
	}
	if len(o.taps) != kk {
		o.taps = make([]*gemm.PackedB, kk)
	}
	parallel.For(kk, 1, func(lo, hi int) {
		for t := lo; t < hi; t++ {
			o.taps[t] = gemm.RepackB(o.taps[t], c, nf, kernel[t*c*nf:(t+1)*c*nf], nf)
		}
	})
}

// im2col lays out the kxk same-padded neighbourhood of every pixel of the
// selected samples as one row of col ([H*W*b, k*k*C], rows position-major
// as the activations, columns (dy,dx,c) to match the HWIO kernel).
func im2col(spec Spec, f []float32, idx []int32, col []float32) {
	h, w, c, k, b := spec.Height, spec.Width, spec.Channels, spec.Kernel, len(idx)
	pad, size, rowLen := k/2, spec.FeatureSize(), k*k*c
	parallel.For(h*w*b, parallel.Grain(rowLen), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			p, i := r/b, r%b
			y, x := p/w, p%w
			sample := f[int(idx[i])*size : int(idx[i]+1)*size]
			row := col[r*rowLen : (r+1)*rowLen]
			for dy := 0; dy < k; dy++ {
				sy := y + dy - pad
				for dx := 0; dx < k; dx++ {
					dst := row[(dy*k+dx)*c : (dy*k+dx+1)*c]
					sx := x + dx - pad
					if sy < 0 || sy >= h || sx < 0 || sx >= w {
						clear(dst)
						continue
					}
					copy(dst, sample[(sy*w+sx)*c:(sy*w+sx+1)*c])
				}
			}
		}
	})
}

func growU16(s *[]uint16, n int) []uint16 {
	if cap(*s) < n {
		*s = make([]uint16, n)
	}
	*s = (*s)[:n]
	return *s
}
