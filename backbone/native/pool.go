package native

import (
	"fmt"
	"math"
	"sync/atomic"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/parallel"
)

func init() {
	register("MaxPool", 1, 1, func(c *buildCtx) (*kernel, error) { return buildPool(c, false) })
	register("AvgPool", 1, 1, func(c *buildCtx) (*kernel, error) { return buildPool(c, true) })
}

func buildPool(c *buildCtx, avg bool) (*kernel, error) {
	w, err := parseWindow(c.a, false)
	if err != nil {
		return nil, err
	}
	kh, kw, err := c.a.spatial("ksize", true)
	if err != nil {
		return nil, err
	}
	resolve := func(in tinfo) (geom, error) {
		if err := requireFloat32(in, "input"); err != nil {
			return geom{}, err
		}
		return w.resolve(in.shape, kh, kw)
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			g, err := resolve(in[0])
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, []int{g.n, g.oh, g.ow, g.c}), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			g, err := resolve(infoOf(in[0]))
			if err != nil {
				return nil, err
			}
			y := alloc(out[0])
			if err := pool(g, in[0].F32, y.F32, avg); err != nil {
				return nil, err
			}
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}

// pool computes max or average pooling over the in-bounds part of each
// window: padding never contributes, so an average divides by the number of
// valid elements, as TensorFlow's AvgPool does.
func pool(g geom, x, y []float32, avg bool) error {
	if g.n*g.oh*g.ow*g.c == 0 {
		return nil
	}
	var empty atomic.Bool
	parallel.For(g.rows(), parallel.Grain(g.ow*g.c*g.kh*g.kw), func(lo, hi int) {
		for r := lo; r < hi; r++ {
			n, oy := r/g.oh, r%g.oh
			iy0, ky0, ky1 := span(oy, g.sh, g.pt, 1, g.kh, g.h)
			for ox := range g.ow {
				ix0, kx0, kx1 := span(ox, g.sw, g.pl, 1, g.kw, g.w)
				acc := y[((n*g.oh+oy)*g.ow+ox)*g.c:][:g.c]
				count := (ky1 - ky0) * (kx1 - kx0)
				if count == 0 {
					empty.Store(true) // only reachable with EXPLICIT padding wider than the kernel
					continue
				}
				if !avg {
					fill(acc, float32(math.Inf(-1)))
				}
				for iy := iy0 + ky0; iy < iy0+ky1; iy++ {
					for ix := ix0 + kx0; ix < ix0+kx1; ix++ {
						xs := x[((n*g.h+iy)*g.w+ix)*g.c:][:g.c]
						if avg {
							addMulF32(opAdd, acc, acc, xs, 1, 1)
						} else {
							maxInto(acc, xs)
						}
					}
				}
				if avg {
					inv := 1 / float32(count)
					for c := range acc {
						acc[c] *= inv
					}
				}
			}
		}
	})
	if empty.Load() {
		return fmt.Errorf("%w: a pooling window lies entirely in the padding", ErrShape)
	}
	return nil
}

// maxInto sets acc[i] to max(acc[i], x[i]), NaN where either is (Go's
// max), eight lanes at a time where the CPU has AVX2: a max pool's one
// pass over its input was a scalar loop, 3-4% of ResNet50 at batch 1.
func maxInto(acc, x []float32) {
	x = x[:len(acc)]
	n := 0
	if hasVec {
		if n = len(acc) &^ 7; n > 0 {
			maxAsm(&acc[0], &x[0], n)
		}
	}
	for i := n; i < len(acc); i++ {
		acc[i] = max(acc[i], x[i])
	}
}
