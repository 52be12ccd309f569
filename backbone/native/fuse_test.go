package native

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// perChannel maps every value of y (o channels) through f(channel, value).
func perChannel(y []float32, o int, f func(j int, v float64) float64) []float32 {
	out := make([]float32, len(y))
	for i, v := range y {
		out[i] = float32(f(i%o, float64(v)))
	}
	return out
}

// fuseCase is a graph x -> convolution -> ops, its expected outputs from
// refConv and the ops written out by hand, and how many nodes the
// optimised engine keeps (fusion happened, or was refused).
type fuseCase struct {
	name    string
	nodes   []*framework.NodeDef
	consts  map[string]*tensor.Tensor
	outputs []string
	want    func(x *tensor.Tensor) map[string][]float32
	nodesOK int
}

// TestFusedConvolutions checks each fused path against an independent
// oracle and against the unfused engine, and that fusion is refused where
// an absorbed tensor would be observable (fetched, or read twice).
func TestFusedConvolutions(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(5, 6))
	const c, o = 2, 4
	x := randT(r, 2, 6, 6, c)
	w3, w1, dw, w1x4 := randT(r, 3, 3, c, o), randT(r, 1, 1, c, c), randT(r, 3, 3, c, 2), randT(r, 1, 1, c, o)
	ch := func(n int, lo, hi float32) *tensor.Tensor {
		t := randT(r, n)
		for i := range t.F32 {
			t.F32[i] = lo + (t.F32[i]+1)/2*(hi-lo)
		}
		return t
	}
	bias, gamma, beta, mean, variance := ch(o, -1, 1), ch(o, 0.5, 2), ch(o, -1, 1), ch(o, -0.5, 0.5), ch(o, 0.1, 2)
	const eps = 1e-3
	bn := func(j int, v float64) float64 {
		s := float64(gamma.F32[j]) / math.Sqrt(float64(variance.F32[j])+eps)
		return (v-float64(mean.F32[j]))*s + float64(beta.F32[j])
	}
	relu6 := func(v float64) float64 { return math.Min(math.Max(v, 0), 6) }
	ph := nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)})
	k := func(name string) *framework.NodeDef { return nodeDef(name, "Const", nil, nil) }
	bnNode := func(name, in string) *framework.NodeDef {
		return nodeDef(name, "FusedBatchNormV3", []string{in, "gamma", "beta", "mean", "var"}, attrMap{"epsilon": aFloat(eps), "is_training": aBool(false)})
	}
	bnConsts := func(extra map[string]*tensor.Tensor) map[string]*tensor.Tensor {
		m := map[string]*tensor.Tensor{"gamma": gamma, "beta": beta, "mean": mean, "var": variance, "eps": f32(nil, eps)}
		for n, v := range extra {
			m[n] = v
		}
		return m
	}
	bnNodes := []*framework.NodeDef{k("gamma"), k("beta"), k("mean"), k("var")}
	conv3 := func(x *tensor.Tensor) []float32 { return refConv(x, w3, 1, 1, 1, 1, 6, 6, false) }
	cases := []fuseCase{{
		name: "conv+biasadd+fusedbatchnorm+relu6",
		nodes: append([]*framework.NodeDef{ph, k("w"), k("b"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)),
			nodeDef("bias", "BiasAdd", []string{"conv", "b"}, nil)}, append(bnNodes, bnNode("bn", "bias"), nodeDef("act", "Relu6", []string{"bn"}, nil))...),
		consts:  bnConsts(map[string]*tensor.Tensor{"w": w3, "b": bias}),
		outputs: []string{"act:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"act:0": perChannel(conv3(x), o, func(j int, v float64) float64 { return relu6(bn(j, v+float64(bias.F32[j]))) })}
		},
		nodesOK: 2,
	}, {
		// Keras 3 writes batch norm as arithmetic on its variables:
		// inv = rsqrt(var + eps) * gamma; y = x*inv + (beta - mean*inv).
		name: "conv+keras3 batch norm+relu",
		nodes: append([]*framework.NodeDef{ph, k("w"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1))}, append(bnNodes, k("eps"),
			nodeDef("ve", "AddV2", []string{"var", "eps"}, nil), nodeDef("rs", "Rsqrt", []string{"ve"}, nil), nodeDef("inv", "Mul", []string{"rs", "gamma"}, nil),
			nodeDef("mi", "Mul", []string{"mean", "inv"}, nil), nodeDef("shift", "Sub", []string{"beta", "mi"}, nil),
			nodeDef("xs", "Mul", []string{"conv", "inv"}, nil), nodeDef("y", "AddV2", []string{"xs", "shift"}, nil), nodeDef("act", "Relu", []string{"y"}, nil))...),
		consts:  bnConsts(map[string]*tensor.Tensor{"w": w3}),
		outputs: []string{"act:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"act:0": perChannel(conv3(x), o, func(j int, v float64) float64 { return math.Max(bn(j, v), 0) })}
		},
		nodesOK: 2,
	}, {
		name: "pointwise+bias+residual+relu",
		nodes: []*framework.NodeDef{ph, k("w"), k("b"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("VALID", 1, 1)),
			nodeDef("bias", "BiasAdd", []string{"conv", "b"}, nil), nodeDef("add", "AddV2", []string{"x", "bias"}, nil), nodeDef("act", "Relu", []string{"add"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w1, "b": f32([]int{c}, bias.F32[:c]...)},
		outputs: []string{"act:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			y := refConv(x, w1, 1, 1, 0, 0, 6, 6, false)
			for i := range y {
				y[i] = float32(math.Max(float64(y[i]+bias.F32[i%c]+x.F32[i]), 0))
			}
			return map[string][]float32{"act:0": y}
		},
		nodesOK: 2,
	}, {
		name: "depthwise x2+batch norm+relu6",
		nodes: append([]*framework.NodeDef{ph, k("w"), nodeDef("conv", "DepthwiseConv2dNative", []string{"x", "w"}, convAttrs("SAME", 2, 1))},
			append(bnNodes, bnNode("bn", "conv"), nodeDef("act", "Relu6", []string{"bn"}, nil))...),
		consts:  bnConsts(map[string]*tensor.Tensor{"w": dw}),
		outputs: []string{"act:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"act:0": perChannel(refConv(x, dw, 2, 1, 0, 0, 3, 3, true), o, func(j int, v float64) float64 { return relu6(bn(j, v)) })}
		},
		nodesOK: 2,
	}, {
		name: "batch norm output also fetched: relu stays apart",
		nodes: append([]*framework.NodeDef{ph, k("w"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1))},
			append(bnNodes, bnNode("bn", "conv"), nodeDef("act", "Relu6", []string{"bn"}, nil))...),
		consts:  bnConsts(map[string]*tensor.Tensor{"w": w3}),
		outputs: []string{"act:0", "bn:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			y := perChannel(conv3(x), o, bn)
			return map[string][]float32{"bn:0": y, "act:0": perChannel(y, o, func(_ int, v float64) float64 { return relu6(v) })}
		},
		nodesOK: 3,
	}, {
		name: "tap between conv and batch norm: no fusion",
		nodes: append([]*framework.NodeDef{ph, k("w"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1))},
			append(bnNodes, bnNode("bn", "conv"), nodeDef("act", "Relu6", []string{"bn"}, nil))...),
		consts:  bnConsts(map[string]*tensor.Tensor{"w": w3}),
		outputs: []string{"act:0", "conv:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			y := conv3(x)
			return map[string][]float32{"conv:0": y, "act:0": perChannel(y, o, func(j int, v float64) float64 { return relu6(bn(j, v)) })}
		},
		nodesOK: 8, // x, conv (its filter packed in), 4 batch-norm params, bn, act
	}, {
		name: "conv read by two nodes: no fusion",
		nodes: []*framework.NodeDef{ph, k("w"), k("b"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)),
			nodeDef("bias", "BiasAdd", []string{"conv", "b"}, nil), nodeDef("sum", "AddV2", []string{"bias", "conv"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w3, "b": bias},
		outputs: []string{"sum:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"sum:0": perChannel(conv3(x), o, func(j int, v float64) float64 { return 2*v + float64(bias.F32[j]) })}
		},
		nodesOK: 5,
	}, {
		name: "mul by a spatial constant: not per channel, no fusion",
		nodes: []*framework.NodeDef{ph, k("w"), k("m"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)),
			nodeDef("mul", "Mul", []string{"conv", "m"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w3, "m": iota32(6, 1, 1)},
		outputs: []string{"mul:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			y := conv3(x)
			for i := range y {
				y[i] *= float32(i/(6*o)%6 + 1)
			}
			return map[string][]float32{"mul:0": y}
		},
		nodesOK: 4,
	}, {
		// Keras 3's swish: y = t*sigmoid(beta*t), and an IdentityN for
		// its custom gradient that passes y, t and beta through.
		name: "conv+bias+keras3 swish",
		nodes: []*framework.NodeDef{ph, k("w"), k("b"), k("beta"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)),
			nodeDef("bias", "BiasAdd", []string{"conv", "b"}, nil), nodeDef("bt", "Mul", []string{"beta", "bias"}, nil),
			nodeDef("sig", "Sigmoid", []string{"bt"}, nil), nodeDef("y", "Mul", []string{"bias", "sig"}, nil),
			nodeDef("idn", "IdentityN", []string{"y", "bias", "beta"}, nil), nodeDef("out", "Identity", []string{"idn"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w3, "b": bias, "beta": f32(nil, 1.5)},
		outputs: []string{"out:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"out:0": perChannel(conv3(x), o, func(j int, v float64) float64 {
				v += float64(bias.F32[j])
				return v / (1 + math.Exp(-1.5*v))
			})}
		},
		nodesOK: 3, // x, the fused conv, out
	}, {
		name: "depthwise+tf-keras swish",
		nodes: []*framework.NodeDef{ph, k("w"), nodeDef("conv", "DepthwiseConv2dNative", []string{"x", "w"}, convAttrs("SAME", 2, 1)),
			nodeDef("sig", "Sigmoid", []string{"conv"}, nil), nodeDef("y", "Mul", []string{"sig", "conv"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": dw},
		outputs: []string{"y:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"y:0": perChannel(refConv(x, dw, 2, 1, 0, 0, 3, 3, true), o, func(_ int, v float64) float64 { return v / (1 + math.Exp(-v)) })}
		},
		nodesOK: 2,
	}, {
		// Squeeze-and-excitation's gate.
		name: "pointwise+bias+sigmoid",
		nodes: []*framework.NodeDef{ph, k("w"), k("b"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("VALID", 1, 1)),
			nodeDef("bias", "BiasAdd", []string{"conv", "b"}, nil), nodeDef("sig", "Sigmoid", []string{"bias"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w1, "b": f32([]int{c}, bias.F32[:c]...)},
		outputs: []string{"sig:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"sig:0": perChannel(refConv(x, w1, 1, 1, 0, 0, 6, 6, false), c, func(j int, v float64) float64 {
				return 1 / (1 + math.Exp(-v-float64(bias.F32[j])))
			})}
		},
		nodesOK: 2,
	}, {
		// Keras's ZeroPadding2D before a VALID strided convolution: the
		// Pad becomes the convolution's own (explicit) padding.
		name: "pad+depthwise valid stride 2+relu6",
		nodes: []*framework.NodeDef{ph, k("w"), k("p"), nodeDef("pad", "Pad", []string{"x", "p"}, nil),
			nodeDef("conv", "DepthwiseConv2dNative", []string{"pad", "w"}, convAttrs("VALID", 2, 1)), nodeDef("act", "Relu6", []string{"conv"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": dw, "p": i32([]int{4, 2}, 0, 0, 1, 1, 0, 1, 0, 0)},
		outputs: []string{"act:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"act:0": perChannel(refConv(x, dw, 2, 1, 1, 0, 3, 3, true), o, func(_ int, v float64) float64 { return relu6(v) })}
		},
		nodesOK: 2,
	}, {
		name: "pad also fetched: not folded",
		nodes: []*framework.NodeDef{ph, k("w"), k("p"), nodeDef("pad", "Pad", []string{"x", "p"}, nil),
			nodeDef("conv", "Conv2D", []string{"pad", "w"}, convAttrs("VALID", 1, 1))},
		consts:  map[string]*tensor.Tensor{"w": w3, "p": i64([]int{4, 2}, 0, 0, 1, 1, 1, 1, 0, 0)},
		outputs: []string{"conv:0", "pad:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			return map[string][]float32{"conv:0": conv3(x)}
		},
		nodesOK: 4, // x, p, pad, conv
	}, {
		// ResNet's join: the first branch's chain absorbs the residual
		// add; the second branch, whose reader that add was, must stop
		// at it (a regression: it once walked into the absorbed node).
		name: "two branches joined by a residual add+relu",
		nodes: []*framework.NodeDef{ph, k("w"), k("b"), k("w1"), k("b1"),
			nodeDef("convA", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)), nodeDef("biasA", "BiasAdd", []string{"convA", "b"}, nil),
			nodeDef("convB", "Conv2D", []string{"x", "w1"}, convAttrs("VALID", 1, 1)), nodeDef("biasB", "BiasAdd", []string{"convB", "b1"}, nil),
			nodeDef("add", "AddV2", []string{"biasA", "biasB"}, nil), nodeDef("act", "Relu", []string{"add"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w3, "b": bias, "w1": w1x4, "b1": beta},
		outputs: []string{"act:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			a, b := conv3(x), refConv(x, w1x4, 1, 1, 0, 0, 6, 6, false)
			for i := range a {
				a[i] = float32(math.Max(float64(a[i]+bias.F32[i%o]+b[i]+beta.F32[i%o]), 0))
			}
			return map[string][]float32{"act:0": a}
		},
		nodesOK: 3, // x, convB+biasB, convA+biasA+add+relu
	}, {
		name: "swish with its sigmoid fetched: no fusion",
		nodes: []*framework.NodeDef{ph, k("w"), nodeDef("conv", "Conv2D", []string{"x", "w"}, convAttrs("SAME", 1, 1)),
			nodeDef("sig", "Sigmoid", []string{"conv"}, nil), nodeDef("y", "Mul", []string{"conv", "sig"}, nil)},
		consts:  map[string]*tensor.Tensor{"w": w3},
		outputs: []string{"y:0", "sig:0"},
		want: func(x *tensor.Tensor) map[string][]float32 {
			y := conv3(x)
			return map[string][]float32{
				"sig:0": perChannel(y, o, func(_ int, v float64) float64 { return 1 / (1 + math.Exp(-v)) }),
				"y:0":   perChannel(y, o, func(_ int, v float64) float64 { return v / (1 + math.Exp(-v)) }),
			}
		},
		nodesOK: 4, // x, conv, sig, y
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := graphOf(tc.nodes, tc.consts, []string{"x"}, tc.outputs)
			plain, opt := plainAndFused(t, g)
			if len(opt.nodes) != tc.nodesOK {
				var ops []string
				for _, n := range opt.nodes {
					ops = append(ops, n.name()+"/"+n.op())
				}
				t.Errorf("optimised engine has %d nodes %v, want %d", len(opt.nodes), ops, tc.nodesOK)
			}
			want := tc.want(x)
			for name, e := range map[string]*Engine{"plain": plain, "optimised": opt} {
				out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				for key, w := range want {
					got := out[key]
					if got == nil || len(got.F32) != len(w) {
						t.Fatalf("%s: output %s: %v, want %d values", name, key, got, len(w))
					}
					for i := range w {
						if d := math.Abs(float64(got.F32[i] - w[i])); d > 1e-5*math.Max(1, math.Abs(float64(w[i]))) {
							t.Fatalf("%s: output %s[%d] = %v, want %v", name, key, i, got.F32[i], w[i])
						}
					}
				}
			}
		})
	}
}

// A MatMul with a constant B (a Dense layer) runs on B packed once
// (packMatMuls), transposed first for transpose_b, and must equal the
// textbook product, on a first and a second run (the second gets the
// arena's recycled, uncleared output).
func TestPackedMatMul(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	const m, k, n = 3, 70, 45
	x := randT(r, m, k)
	for _, tb := range []bool{false, true} {
		w := randT(r, k, n)
		if tb {
			w = randT(r, n, k)
		}
		ph := nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)})
		mm := nodeDef("y", "MatMul", []string{"x", "w"}, attrMap{"transpose_b": aBool(tb)})
		e, err := New(graphOf([]*framework.NodeDef{ph, nodeDef("w", "Const", nil, nil), mm}, map[string]*tensor.Tensor{"w": w}, []string{"x"}, []string{"y:0"}))
		if err != nil {
			t.Fatal(err)
		}
		for run := range 2 {
			out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			for i := range m {
				for j := range n {
					var s float64
					for p := range k {
						b := w.F32[p*n+j]
						if tb {
							b = w.F32[j*k+p]
						}
						s += float64(x.F32[i*k+p]) * float64(b)
					}
					if got := out["y:0"].F32[i*n+j]; !(math.Abs(float64(got)-s) <= 1e-5*math.Max(1, math.Abs(s))) {
						t.Fatalf("transpose_b=%t run %d: y[%d,%d] = %v, want %v", tb, run, i, j, got, s)
					}
				}
			}
		}
	}
}
