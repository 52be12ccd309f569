package native

import (
	"fmt"
	"slices"

	"github.com/graft-ml/graft/backbone/tensor"
)

func init() {
	register("GatherV2", 3, 3, buildGather)
}

// buildGather compiles GatherV2 with batch_dims 0, the form Keras' shape
// arithmetic (Tensordot) and embedding lookups use.
func buildGather(c *buildCtx) (*kernel, error) {
	if b := c.a.int("batch_dims", 0); b != 0 {
		return nil, fmt.Errorf("%w: batch_dims %d (only 0 is supported)", ErrAttr, b)
	}
	resolve := func(in []tinfo) (int, []int, error) {
		a, err := scalarInt(in[2], "axis")
		if err != nil {
			return 0, nil, err
		}
		p := in[0].shape
		if a, err = axis(a, len(p), "axis"); err != nil {
			return 0, nil, err
		}
		if !isInt(in[1].dtype) {
			return 0, nil, fmt.Errorf("%w: indices are %s, want int32 or int64", ErrDType, in[1].dtype)
		}
		out := slices.Concat(p[:a], in[1].shape, p[a+1:])
		return a, out, nil
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			_, out, err := resolve(in)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, out), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			infos := []tinfo{infoOf(in[0]), infoOf(in[1]), infoOf(in[2])}
			a, _, _ := resolve(infos)
			idx, err := ints(infos[1], "indices")
			if err != nil {
				return nil, err
			}
			p := in[0].Shape
			outer, inner := tensor.NumElements(p[:a]), tensor.NumElements(p[a+1:])
			y := alloc(out[0])
			for j, ix := range idx {
				if ix < 0 || ix >= p[a] {
					return nil, fmt.Errorf("%w: index %d out of range [0, %d) on axis %d", ErrValue, ix, p[a], a)
				}
				copyView(y, in[0], view{
					counts: []int{outer, inner},
					sStr:   []int{p[a] * inner, 1}, sOff: ix * inner,
					dStr: []int{len(idx) * inner, 1}, dOff: j * inner,
				})
			}
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}
