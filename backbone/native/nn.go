package native

import (
	"fmt"
	"math"
	"slices"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/parallel"
)

func init() {
	register("BiasAdd", 2, 2, buildBiasAdd)
	register("BiasAddV1", 2, 2, buildBiasAdd)
	register("FusedBatchNorm", 5, 5, func(c *buildCtx) (*kernel, error) { return buildBatchNorm(c, 5) })
	register("FusedBatchNormV2", 5, 5, func(c *buildCtx) (*kernel, error) { return buildBatchNorm(c, 5) })
	register("FusedBatchNormV3", 5, 5, func(c *buildCtx) (*kernel, error) { return buildBatchNorm(c, 6) })
	register("Softmax", 1, 1, simple(softmaxShape, runSoftmax))
	register("MatMul", 2, 2, buildMatMul)
	for _, name := range []string{"BatchMatMul", "BatchMatMulV2", "BatchMatMulV3"} {
		register(name, 2, 2, buildBatchMatMul)
	}
}

func buildBiasAdd(c *buildCtx) (*kernel, error) {
	if err := c.a.nhwc(); err != nil {
		return nil, err
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			x, b := in[0], in[1]
			if len(x.shape) < 2 || len(b.shape) != 1 || b.shape[0] != x.shape[len(x.shape)-1] {
				return nil, fmt.Errorf("%w: bias %v does not match the channels of input %v", ErrShape, b.shape, x.shape)
			}
			return binaryShape(opAdd, x, b)
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			y, err := binary(opAdd, in[0], in[1], out[0])
			return []*tensor.Tensor{y}, err
		},
	}, nil
}

// buildBatchNorm compiles inference-mode fused batch norm; the extra
// outputs pass mean and variance through and leave the reserve spaces empty.
func buildBatchNorm(c *buildCtx, nOut int) (*kernel, error) {
	if err := c.a.nhwc(); err != nil {
		return nil, err
	}
	if c.a.bool("is_training", true) {
		return nil, fmt.Errorf("%w: is_training=true (training-mode batch norm); graft runs backbones in inference mode — export the inference graph", ErrAttr)
	}
	eps := c.a.float("epsilon", 1e-4)
	return &kernel{
		nOut: nOut,
		shape: func(in []tinfo) ([]tinfo, error) {
			x := in[0]
			if len(x.shape) != 4 {
				return nil, fmt.Errorf("%w: input has shape %v, want rank 4 (NHWC)", ErrShape, x.shape)
			}
			ch := x.shape[3]
			for i, what := range []string{"x", "scale", "offset", "mean", "variance"} {
				if err := requireFloat32(in[i], what); err != nil {
					return nil, err
				}
				if i > 0 && (len(in[i].shape) != 1 || in[i].shape[0] != ch) {
					return nil, fmt.Errorf("%w: %s has shape %v, want [%d]", ErrShape, what, in[i].shape, ch)
				}
			}
			out := []tinfo{{dtype: x.dtype, shape: x.shape}, {dtype: tensor.Float32, shape: []int{ch}}, {dtype: tensor.Float32, shape: []int{ch}}}
			for len(out) < nOut {
				out = append(out, tinfo{dtype: tensor.Float32, shape: []int{0}})
			}
			return out, nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			ch := in[0].Shape[3]
			scale, shift := make([]float32, ch), make([]float32, ch)
			for c := range ch {
				s := in[1].F32[c] / float32(math.Sqrt(float64(in[4].F32[c])+float64(eps)))
				scale[c], shift[c] = s, in[2].F32[c]-in[3].F32[c]*s
			}
			y := alloc(out[0])
			x := in[0].F32
			rows := len(x) / max(ch, 1)
			parallel.For(rows, parallel.Grain(ch), func(lo, hi int) {
				for i := lo * ch; i < hi*ch; i += ch {
					xs, ys := x[i:i+ch], y.F32[i:i+ch]
					for c, v := range xs {
						ys[c] = v*scale[c] + shift[c]
					}
				}
			})
			res := []*tensor.Tensor{y, in[3], in[4]}
			for _, o := range out[3:] {
				res = append(res, alloc(o))
			}
			return res, nil
		},
	}, nil
}

func softmaxShape(in []tinfo) ([]tinfo, error) {
	if err := requireFloat32(in[0], "logits"); err != nil {
		return nil, err
	}
	if len(in[0].shape) < 1 {
		return nil, fmt.Errorf("%w: logits must have rank >= 1", ErrShape)
	}
	return one(in[0].dtype, in[0].shape), nil
}

// runSoftmax normalises along the last axis, subtracting the row maximum
// first so that exp cannot overflow.
func runSoftmax(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
	y := alloc(out[0])
	x := in[0].F32
	n := in[0].Shape[len(in[0].Shape)-1]
	if n == 0 {
		return []*tensor.Tensor{y}, nil
	}
	parallel.For(len(x)/n, parallel.Grain(n*4), func(lo, hi int) {
		for i := lo * n; i < hi*n; i += n {
			xs, ys := x[i:i+n], y.F32[i:i+n]
			m := xs[0]
			for _, v := range xs {
				m = max(m, v)
			}
			var sum float64
			for j, v := range xs {
				e := math.Exp(float64(v - m))
				ys[j] = float32(e)
				sum += e
			}
			inv := float32(1 / sum)
			for j := range ys {
				ys[j] *= inv
			}
		}
	})
	return []*tensor.Tensor{y}, nil
}

func buildMatMul(c *buildCtx) (*kernel, error) {
	return matMulKernel(c.a.bool("transpose_a", false), c.a.bool("transpose_b", false), nil), nil
}

// matMulKernel is MatMul; pb, when not nil, is its constant B already in
// op(B) form and packed once (packMatMuls): a Dense layer at batch 1
// otherwise spent as long packing its weights on every run as
// multiplying by them.
func matMulKernel(ta, tb bool, pb *gemm.PackedB) *kernel {
	dims := func(in []tinfo) (m, k, n int, err error) {
		for i, what := range []string{"a", "b"} {
			if err := requireFloat32(in[i], what); err != nil {
				return 0, 0, 0, err
			}
			if len(in[i].shape) != 2 {
				return 0, 0, 0, fmt.Errorf("%w: %s has shape %v, want a matrix", ErrShape, what, in[i].shape)
			}
		}
		a, b := in[0].shape, in[1].shape
		m, k = a[0], a[1]
		if ta {
			m, k = k, m
		}
		kb, n := b[0], b[1]
		if tb {
			kb, n = n, kb
		}
		if k != kb {
			return 0, 0, 0, fmt.Errorf("%w: inner dimensions differ: a %v, b %v (transpose_a=%t, transpose_b=%t)", ErrShape, a, b, ta, tb)
		}
		return m, k, n, nil
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			m, _, n, err := dims(in)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, []int{m, n}), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			m, k, n, _ := dims([]tinfo{infoOf(in[0]), infoOf(in[1])})
			if k == 0 {
				return []*tensor.Tensor{alloc(out[0])}, nil
			}
			y := allocRaw(out[0]) // the product sets every value
			if pb != nil && !ta {
				if pk, pn := pb.Dims(); pk == k && pn == n {
					pb.MulSet(m, in[0].F32, k, y.F32, n, nil)
					return []*tensor.Tensor{y}, nil
				}
			}
			gemm.Sgemm(ta, tb, m, n, k, 1, in[0].F32, in[0].Shape[1], in[1].F32, in[1].Shape[1], 0, y.F32, n)
			return []*tensor.Tensor{y}, nil
		},
		memory: func(in [][]int, _ int) kernelMem {
			mem := kernelMem{gemm: true, gemmB: pb == nil}
			if pb != nil {
				// Packed once (packMatMuls); where no packed kernel
				// runs, B is kept as it is, transposed first if tb.
				k, n := pb.Dims()
				if mem.kept = gemm.PackedBytes(k, n); mem.kept == 0 && tb {
					mem.kept = 4 * int64(k*n)
				}
			}
			return mem
		},
	}
}

// batchMatMul is a resolved BatchMatMul: matrix dims and the broadcast
// batch walk (the leading dims broadcast like numpy).
type batchMatMul struct {
	m, k, n int
	batch   []int
	plan    bcastPlan
}

func buildBatchMatMul(c *buildCtx) (*kernel, error) {
	ax, ay := c.a.bool("adj_x", false), c.a.bool("adj_y", false)
	resolve := func(in []tinfo) (batchMatMul, error) {
		var b batchMatMul
		for i, what := range []string{"x", "y"} {
			if err := requireFloat32(in[i], what); err != nil {
				return b, err
			}
			if len(in[i].shape) < 2 {
				return b, fmt.Errorf("%w: %s has shape %v, want rank >= 2", ErrShape, what, in[i].shape)
			}
		}
		x, y := in[0].shape, in[1].shape
		rx, ry := len(x), len(y)
		b.m, b.k = x[rx-2], x[rx-1]
		if ax {
			b.m, b.k = b.k, b.m
		}
		ky, n := y[ry-2], y[ry-1]
		if ay {
			ky, n = n, ky
		}
		if b.k != ky {
			return b, fmt.Errorf("%w: inner dimensions differ: x %v, y %v (adj_x=%t, adj_y=%t)", ErrShape, x, y, ax, ay)
		}
		b.n = n
		var err error
		if b.batch, err = broadcastShape(x[:rx-2], y[:ry-2]); err != nil {
			return b, err
		}
		b.plan = planBroadcast(b.batch, x[:rx-2], y[:ry-2])
		return b, nil
	}
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			b, err := resolve(in)
			if err != nil {
				return nil, err
			}
			return one(in[0].dtype, append(slices.Clone(b.batch), b.m, b.n)), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			b, _ := resolve([]tinfo{infoOf(in[0]), infoOf(in[1])})
			y := alloc(out[0])
			if b.m*b.n == 0 || b.k == 0 {
				return []*tensor.Tensor{y}, nil
			}
			xs, ys := in[0].Shape, in[1].Shape
			lda, ldb := xs[len(xs)-1], ys[len(ys)-1]
			xm, ym := b.m*b.k, b.k*b.n
			// Walk the batch as broadcasting does: outer dims by index, the
			// innermost run stepping each operand by 0 or 1 matrix.
			rows := tensor.NumElements(b.plan.counts)
			for r := range rows {
				xo, yo, rem := 0, 0, r
				for d := len(b.plan.counts) - 1; d >= 0; d-- {
					i := rem % b.plan.counts[d]
					rem /= b.plan.counts[d]
					xo += i * b.plan.aStr[d]
					yo += i * b.plan.bStr[d]
				}
				for j := range b.plan.inner {
					bi := r*b.plan.inner + j
					xi, yi := xo+j*b.plan.sa, yo+j*b.plan.sb
					gemm.Sgemm(ax, ay, b.m, b.n, b.k, 1, in[0].F32[xi*xm:], lda, in[1].F32[yi*ym:], ldb, 0, y.F32[bi*b.m*b.n:], b.n)
				}
			}
			return []*tensor.Tensor{y}, nil
		},
	}, nil
}
