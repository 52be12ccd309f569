package native

import (
	"fmt"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/parallel"
)

type redOp int

const (
	redSum redOp = iota
	redMean
	redMax
	redMin
	redProd
)

func init() {
	for name, op := range map[string]redOp{"Sum": redSum, "Mean": redMean, "Max": redMax, "Min": redMin, "Prod": redProd} {
		register(name, 2, 2, func(c *buildCtx) (*kernel, error) { return buildReduce(op, c.a.bool("keep_dims", false)), nil })
	}
}

// reduceAxes normalises and de-duplicates reduction_indices into a mask.
func reduceAxes(in tinfo, rank int) ([]bool, error) {
	ax, err := ints(in, "reduction_indices")
	if err != nil {
		return nil, err
	}
	mask := make([]bool, rank)
	for _, a := range ax {
		a, err := axis(a, rank, "reduction index")
		if err != nil {
			return nil, err
		}
		mask[a] = true
	}
	return mask, nil
}

func buildReduce(op redOp, keep bool) *kernel {
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			x := in[0]
			if s := storageOf(x.dtype); s == stBool || s == stString || s == stNone {
				return nil, fmt.Errorf("%w: reduction of %s", ErrDType, x.dtype)
			}
			mask, err := reduceAxes(in[1], len(x.shape))
			if err != nil {
				return nil, err
			}
			out := []int{}
			for i, d := range x.shape {
				switch {
				case !mask[i]:
					out = append(out, d)
				case keep:
					out = append(out, 1)
				}
			}
			if op == redMax || op == redMin {
				for i, d := range x.shape {
					if mask[i] && d == 0 {
						return nil, fmt.Errorf("%w: Max/Min over an empty axis %d of %v", ErrShape, i, x.shape)
					}
				}
			}
			return one(x.dtype, out), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			mask, _ := reduceAxes(infoOf(in[1]), in[0].Rank())
			var y *tensor.Tensor
			switch storageOf(in[0].DType) {
			case stF32:
				y = reduceTensor(op, in[0], in[0].F32, mask, func(t *tensor.Tensor, d []float32) { t.F32 = d })
			case stF64:
				y = reduceTensor(op, in[0], in[0].F64, mask, func(t *tensor.Tensor, d []float64) { t.F64 = d })
			case stI32:
				y = reduceTensor(op, in[0], in[0].I32, mask, func(t *tensor.Tensor, d []int32) { t.I32 = d })
			case stI64:
				y = reduceTensor(op, in[0], in[0].I64, mask, func(t *tensor.Tensor, d []int64) { t.I64 = d })
			}
			return []*tensor.Tensor{shareData(y, out[0].dtype, out[0].shape)}, nil
		},
	}
}

// reduceTensor reduces each run of consecutive masked axes in one pass over
// an (outer, r, inner) view; a Mean sums and scales once at the end.
func reduceTensor[T number](op redOp, x *tensor.Tensor, data []T, mask []bool, set func(*tensor.Tensor, []T)) *tensor.Tensor {
	shape := append([]int(nil), x.Shape...)
	pass := op
	if op == redMean {
		pass = redSum
	}
	count := 1
	for i := 0; i < len(shape); {
		if !mask[i] {
			i++
			continue
		}
		j := i
		for j < len(shape) && mask[j] {
			j++
		}
		outer, r, inner := tensor.NumElements(shape[:i]), tensor.NumElements(shape[i:j]), tensor.NumElements(shape[j:])
		data = reduceRun(pass, data, outer, r, inner)
		count *= r
		shape = append(append(shape[:i:i], 1), shape[j:]...)
		mask = append(append(mask[:i:i], false), mask[j:]...)
		i++
	}
	// count == 1 means nothing was reduced and data may still be x's own
	// storage, which must not be scaled; an empty integer mean stays 0.
	if op == redMean && count != 1 && (count != 0 || isFloat(x.DType)) {
		for i := range data {
			data[i] /= T(count)
		}
	}
	y := &tensor.Tensor{DType: x.DType, Shape: shape}
	set(y, data)
	return y
}

// reduceRun folds the middle axis of an (outer, r, inner) array.
func reduceRun[T number](op redOp, src []T, outer, r, inner int) []T {
	dst := make([]T, outer*inner)
	if r == 0 {
		if op == redProd {
			fill(dst, 1)
		}
		return dst
	}
	parallel.For(outer, parallel.Grain(r*inner), func(lo, hi int) {
		for o := lo; o < hi; o++ {
			acc := dst[o*inner : (o+1)*inner]
			base := o * r * inner
			copy(acc, src[base:base+inner])
			for i := 1; i < r; i++ {
				row := src[base+i*inner : base+(i+1)*inner]
				switch op {
				case redSum:
					for j, v := range row {
						acc[j] += v
					}
				case redMax:
					for j, v := range row {
						acc[j] = max(acc[j], v)
					}
				case redMin:
					for j, v := range row {
						acc[j] = min(acc[j], v)
					}
				case redProd:
					for j, v := range row {
						acc[j] *= v
					}
				}
			}
		}
	})
	return dst
}
