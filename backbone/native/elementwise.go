package native

import (
	"math"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/util/parallel"
)

// unaryFunc maps src to dst elementwise (equal lengths). Each op is one
// tight loop; unaryKernel supplies validation, allocation and parallelism.
type unaryFunc func(dst, src []float32)

// mapF32 lifts a scalar float64 function into a unaryFunc, for the
// transcendental ops where the float64 round trip is the simplest exact
// choice.
func mapF32(f func(float64) float64) unaryFunc {
	return func(dst, src []float32) {
		for i, x := range src {
			dst[i] = float32(f(float64(x)))
		}
	}
}

func relu(dst, src []float32) {
	for i, x := range src {
		dst[i] = max(x, 0)
	}
}

func relu6(dst, src []float32) {
	for i, x := range src {
		dst[i] = min(max(x, 0), 6)
	}
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

func square(dst, src []float32) {
	for i, x := range src {
		dst[i] = x * x
	}
}

func neg(dst, src []float32) {
	for i, x := range src {
		dst[i] = -x
	}
}

func leakyRelu(alpha float32) unaryFunc {
	return func(dst, src []float32) {
		for i, x := range src {
			if x < 0 {
				x *= alpha
			}
			dst[i] = x
		}
	}
}

func elu(x float64) float64 {
	if x < 0 {
		return math.Expm1(x)
	}
	return x
}

func selu(x float64) float64 {
	const alpha, scale = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
	if x < 0 {
		return scale * alpha * math.Expm1(x)
	}
	return scale * x
}

func softplus(x float64) float64 {
	if x > 20 { // exp overflows float32 long before this matters
		return x
	}
	return math.Log1p(math.Exp(x))
}

func init() {
	for name, f := range map[string]unaryFunc{
		"Relu":       relu,
		"Relu6":      relu6,
		"Square":     square,
		"Neg":        neg,
		"Sigmoid":    mapF32(sigmoid),
		"Tanh":       mapF32(math.Tanh),
		"Elu":        mapF32(elu),
		"Selu":       mapF32(selu),
		"Softplus":   mapF32(softplus),
		"Exp":        mapF32(math.Exp),
		"Log":        mapF32(math.Log),
		"Sqrt":       mapF32(math.Sqrt),
		"Rsqrt":      mapF32(func(x float64) float64 { return 1 / math.Sqrt(x) }),
		"Reciprocal": mapF32(func(x float64) float64 { return 1 / x }),
		"Abs":        mapF32(math.Abs),
		"Floor":      mapF32(math.Floor),
		"Erf":        mapF32(math.Erf),
		"Erfc":       mapF32(math.Erfc), // exact GELU: 0.5*x*erfc(-x/sqrt(2)) (tf.nn.gelu, Keras 3 and tf-keras)
	} {
		register(name, 1, 1, func(*buildCtx) (*kernel, error) { return unaryKernel(f), nil })
	}
	register("LeakyRelu", 1, 1, func(c *buildCtx) (*kernel, error) {
		return unaryKernel(leakyRelu(c.a.float("alpha", 0.2))), nil
	})
}

// unaryKernel wraps a float32 elementwise function as a kernel.
func unaryKernel(f unaryFunc) *kernel {
	return &kernel{
		nOut: 1,
		shape: func(in []tinfo) ([]tinfo, error) {
			if err := requireFloat32(in[0], "input"); err != nil {
				return nil, err
			}
			return one(in[0].dtype, in[0].shape), nil
		},
		run: func(in []*tensor.Tensor, out []tinfo) ([]*tensor.Tensor, error) {
			y := alloc(out[0])
			x := in[0].F32
			parallel.For(len(x), parallel.Grain(1), func(lo, hi int) { f(y.F32[lo:hi], x[lo:hi]) })
			return []*tensor.Tensor{y}, nil
		},
	}
}
