package native

import (
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// view is a strided walk shared by the data-movement ops (Transpose,
// StridedSlice, Slice, Concat, Pad, Tile): for every index tuple i < counts,
// dst[dOff + sum(i*dStr)] = src[sOff + sum(i*sStr)].
type view struct {
	counts     []int
	sStr, dStr []int
	sOff, dOff int
}

// simplify drops unit dims and merges dims that are contiguous in both
// source and destination, so the inner loop runs as long as possible.
func (v view) simplify() view {
	var c, s, d []int
	for i := range v.counts {
		if v.counts[i] == 1 {
			continue
		}
		if k := len(c) - 1; k >= 0 && s[k] == v.sStr[i]*v.counts[i] && d[k] == v.dStr[i]*v.counts[i] {
			c[k] *= v.counts[i]
			s[k], d[k] = v.sStr[i], v.dStr[i]
			continue
		}
		c, s, d = append(c, v.counts[i]), append(s, v.sStr[i]), append(d, v.dStr[i])
	}
	if len(c) == 0 {
		c, s, d = []int{1}, []int{1}, []int{1}
	}
	return view{counts: c, sStr: s, dStr: d, sOff: v.sOff, dOff: v.dOff}
}

func (v view) empty() bool {
	for _, c := range v.counts {
		if c == 0 {
			return true
		}
	}
	return false
}

// stridedCopy performs the walk, splitting the outer rows across workers.
func stridedCopy[T any](dst, src []T, v view) {
	if v.empty() {
		return
	}
	v = v.simplify()
	last := len(v.counts) - 1
	inner, is, id := v.counts[last], v.sStr[last], v.dStr[last]
	rows := 1
	for _, c := range v.counts[:last] {
		rows *= c
	}
	parallel.For(rows, parallel.Grain(inner), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			so, do, rem := v.sOff, v.dOff, r
			for k := last - 1; k >= 0; k-- {
				i := rem % v.counts[k]
				rem /= v.counts[k]
				so += i * v.sStr[k]
				do += i * v.dStr[k]
			}
			if is == 1 && id == 1 {
				copy(dst[do:do+inner], src[so:so+inner])
				continue
			}
			for j := 0; j < inner; j++ {
				dst[do+j*id] = src[so+j*is]
			}
		}
	})
}

// copyView runs stridedCopy on the backing slices of two tensors of the
// same storage.
func copyView(dst, src *tensor.Tensor, v view) {
	switch storageOf(src.DType) {
	case stF32:
		stridedCopy(dst.F32, src.F32, v)
	case stF64:
		stridedCopy(dst.F64, src.F64, v)
	case stI32:
		stridedCopy(dst.I32, src.I32, v)
	case stI64:
		stridedCopy(dst.I64, src.I64, v)
	case stBool:
		stridedCopy(dst.B, src.B, v)
	case stString:
		stridedCopy(dst.S, src.S, v)
	}
}

// fillFrom sets every element of dst to element i of src (a scalar
// broadcast: Fill, pad constants).
func fillFrom(dst, src *tensor.Tensor, i int) {
	switch storageOf(dst.DType) {
	case stF32:
		fill(dst.F32, src.F32[i])
	case stF64:
		fill(dst.F64, src.F64[i])
	case stI32:
		fill(dst.I32, src.I32[i])
	case stI64:
		fill(dst.I64, src.I64[i])
	case stBool:
		fill(dst.B, src.B[i])
	case stString:
		fill(dst.S, src.S[i])
	}
}

func fill[T any](dst []T, v T) {
	for i := range dst {
		dst[i] = v
	}
}

// shareData returns a tensor with t's storage and the given dtype and shape
// (aliasing ops: Identity, Reshape, Squeeze, ExpandDims).
func shareData(t *tensor.Tensor, dt tensor.DType, shape []int) *tensor.Tensor {
	c := *t
	c.DType = dt
	c.Shape = append([]int(nil), shape...)
	return &c
}
