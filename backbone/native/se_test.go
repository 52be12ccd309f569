package native

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// refSqueezeExcite is the block in float64, written out from its
// definition: m = mean over H and W, h = swish(m W1 + b1),
// s = sigmoid(h W2 + b2) (hard: relu6(v + 3) / 6), y = x * s.
func refSqueezeExcite(x, w1, b1, w2, b2 *tensor.Tensor, hard bool) []float64 {
	n, hw, c, r := x.Shape[0], x.Shape[1]*x.Shape[2], x.Shape[3], w1.Shape[3]
	y := make([]float64, len(x.F32))
	for b := range n {
		m := make([]float64, c)
		for p := range hw {
			for j := range c {
				m[j] += float64(x.F32[(b*hw+p)*c+j])
			}
		}
		h := make([]float64, r)
		for k := range r {
			v := float64(b1.F32[k])
			for j := range c {
				v += m[j] / float64(hw) * float64(w1.F32[j*r+k])
			}
			h[k] = v / (1 + math.Exp(-v))
		}
		for j := range c {
			v := float64(b2.F32[j])
			for k := range r {
				v += h[k] * float64(w2.F32[k*c+j])
			}
			s := 1 / (1 + math.Exp(-v))
			if hard {
				s = math.Min(math.Max(v+3, 0), 6) / 6
			}
			for p := range hw {
				i := (b*hw+p)*c + j
				y[i] = float64(x.F32[i]) * s
			}
		}
	}
	return y
}

// seNodes is a squeeze-and-excitation block on x as Keras writes it:
// Mean over H and W, then (keepDims false, Keras 3 and tf-keras) a
// Reshape to [N,1,1,C] whose shape packs the batch size read with Shape
// and StridedSlice, or (keepDims true) the Mean's own [N,1,1,C]; two 1x1
// convolutions with bias, swish and sigmoid; and Mul(x, s), swapped when
// sx is set. With conv, x is a 1x1 convolution's output (w0) of the
// input "in", which the block may scale in place; else the input itself.
// With hard, the sigmoid is MobileNetV3's relu6(v + 3) * (1/6).
func seNodes(keepDims, sx, conv, hard bool) []*framework.NodeDef {
	k := func(name string) *framework.NodeDef { return nodeDef(name, "Const", nil, nil) }
	nodes := []*framework.NodeDef{nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)})}
	if conv {
		nodes = []*framework.NodeDef{nodeDef("in", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)}), k("w0"),
			nodeDef("x", "Conv2D", []string{"in", "w0"}, convAttrs("SAME", 1, 1))}
	}
	nodes = append(nodes, k("axes"), k("w1"), k("b1"), k("w2"), k("b2"),
		nodeDef("mean", "Mean", []string{"x", "axes"}, attrMap{"keep_dims": aBool(keepDims)}))
	sq := "mean"
	if !keepDims {
		nodes = append(nodes, k("begin"), k("end"), k("one"), k("one1"), k("c"),
			nodeDef("shape", "Shape", []string{"mean"}, attrMap{"out_type": aType(tensor.Int32)}),
			nodeDef("bs", "StridedSlice", []string{"shape", "begin", "end", "one"}, attrMap{"shrink_axis_mask": aInt(1)}),
			nodeDef("target", "Pack", []string{"bs", "one1", "one1", "c"}, attrMap{"N": aInt(4), "axis": aInt(0)}),
			nodeDef("reshape", "Reshape", []string{"mean", "target"}, nil))
		sq = "reshape"
	}
	mul := []string{"x", "s"}
	if sx {
		mul = []string{"s", "x"}
	}
	nodes = append(nodes,
		nodeDef("conv1", "Conv2D", []string{sq, "w1"}, convAttrs("SAME", 1, 1)),
		nodeDef("bias1", "BiasAdd", []string{"conv1", "b1"}, nil),
		nodeDef("sig1", "Sigmoid", []string{"bias1"}, nil),
		nodeDef("h", "Mul", []string{"bias1", "sig1"}, nil),
		nodeDef("conv2", "Conv2D", []string{"h", "w2"}, convAttrs("VALID", 1, 1)),
		nodeDef("bias2", "BiasAdd", []string{"conv2", "b2"}, nil))
	if hard {
		nodes = append(nodes, k("three"), k("sixth"),
			nodeDef("plus3", "AddV2", []string{"bias2", "three"}, nil),
			nodeDef("clamp", "Relu6", []string{"plus3"}, nil),
			nodeDef("s", "Mul", []string{"clamp", "sixth"}, nil))
	} else {
		nodes = append(nodes, nodeDef("s", "Sigmoid", []string{"bias2"}, nil))
	}
	return append(nodes, nodeDef("y", "Mul", mul, nil))
}

// TestSqueezeExciteFused checks that the block becomes one node where
// nothing inside it is observable, that it stays unfused where something
// is (fetched), that it scales a convolution's output in place only when
// nothing else reads it, and that both engines match the float64
// reference on odd channel counts and batches above 1, on a first and a
// second run (the second gets the arena's recycled, uncleared buffers).
func TestSqueezeExciteFused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name           string
		keepDims, sx   bool
		conv, inPlace  bool
		hard           bool
		n, h, w, c, r  int
		outputs        []string
		fused, nodesOK int
	}{
		{name: "keras reshape", n: 3, h: 5, w: 7, c: 37, r: 5, outputs: []string{"y:0"}, fused: 1, nodesOK: 2},
		{name: "keep_dims, s*x", keepDims: true, sx: true, n: 2, h: 9, w: 4, c: 7, r: 3, outputs: []string{"y:0"}, fused: 1, nodesOK: 2},
		{name: "hard sigmoid (MobileNetV3)", keepDims: true, hard: true, n: 3, h: 4, w: 4, c: 17, r: 5, outputs: []string{"y:0"}, fused: 1, nodesOK: 2},
		{name: "hard sigmoid, clamp fetched: no fusion", keepDims: true, hard: true, n: 2, h: 3, w: 3, c: 5, r: 2, outputs: []string{"y:0", "clamp:0"}},
		{name: "batch 1, wide", n: 1, h: 6, w: 6, c: 130, r: 9, outputs: []string{"y:0"}, fused: 1, nodesOK: 2},
		{name: "mean fetched: no fusion", n: 2, h: 3, w: 3, c: 5, r: 2, outputs: []string{"y:0", "mean:0"}},
		{name: "after a convolution: in place", conv: true, inPlace: true, n: 2, h: 4, w: 5, c: 19, r: 4, outputs: []string{"y:0"}, fused: 1, nodesOK: 3},
		{name: "after a convolution, x fetched: not in place", conv: true, n: 2, h: 4, w: 5, c: 19, r: 4, outputs: []string{"y:0", "x:0"}, fused: 1, nodesOK: 3},
		{name: "excitation fetched: no fusion", keepDims: true, n: 2, h: 3, w: 3, c: 5, r: 2, outputs: []string{"y:0", "h:0"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(11, uint64(i)))
			in := randT(rng, tc.n, tc.h, tc.w, tc.c)
			w0, w1, b1, w2, b2 := randT(rng, 1, 1, tc.c, tc.c), randT(rng, 1, 1, tc.c, tc.r), randT(rng, tc.r), randT(rng, 1, 1, tc.r, tc.c), randT(rng, tc.c)
			consts := map[string]*tensor.Tensor{"axes": i32([]int{2}, 1, 2), "w0": w0, "w1": w1, "b1": b1, "w2": w2, "b2": b2,
				"begin": i32([]int{1}, 0), "end": i32([]int{1}, 1), "one": i32([]int{1}, 1), "one1": i32(nil, 1), "c": i32(nil, int32(tc.c)),
				"three": f32(nil, 3), "sixth": f32(nil, 1.0/6)}
			feed := "x"
			x := in
			if tc.conv {
				feed = "in"
				x = tensor.New(tensor.Float32, in.Shape...)
				x.F32 = refConv(in, w0, 1, 1, 0, 0, tc.h, tc.w, false)
			}
			fed := slices.Clone(in.F32)
			g := graphOf(seNodes(tc.keepDims, tc.sx, tc.conv, tc.hard), consts, []string{feed}, tc.outputs)
			plain, opt := plainAndFused(t, g)
			fused := 0
			for _, n := range opt.nodes {
				if n.op() == seOp {
					fused++
					if n.inPlace != tc.inPlace {
						t.Errorf("in place: %t, want %t", n.inPlace, tc.inPlace)
					}
				}
			}
			if fused != tc.fused || (tc.nodesOK > 0 && len(opt.nodes) != tc.nodesOK) {
				var ops []string
				for _, n := range opt.nodes {
					ops = append(ops, n.name()+"/"+n.op())
				}
				t.Errorf("optimised engine: %d fused blocks, nodes %v; want %d fused", fused, ops, tc.fused)
			}
			want := refSqueezeExcite(x, w1, b1, w2, b2, tc.hard)
			for name, e := range map[string]*Engine{"plain": plain, "optimised": opt} {
				for run := range 2 {
					out, err := e.Run(context.Background(), map[string]*tensor.Tensor{feed: in})
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					got := out["y:0"]
					if got == nil || !sameShape(got.Shape, x.Shape) {
						t.Fatalf("%s: y = %v, want shape %v", name, got, x.Shape)
					}
					for i, w := range want {
						if d := math.Abs(float64(got.F32[i]) - w); !(d <= 1e-5*math.Max(1, math.Abs(w))) {
							t.Fatalf("%s run %d: y[%d] = %v, want %v", name, run, i, got.F32[i], w)
						}
					}
					if fx := out["x:0"]; fx != nil { // fetched: never scaled
						for i, w := range x.F32 {
							if d := math.Abs(float64(fx.F32[i] - w)); !(d <= 1e-5*math.Max(1, math.Abs(float64(w)))) {
								t.Fatalf("%s run %d: fetched x[%d] = %v, want %v", name, run, i, fx.F32[i], w)
							}
						}
					}
					for i, v := range in.F32 { // the feed is the caller's
						if v != fed[i] {
							t.Fatalf("%s run %d: the feed changed at %d", name, run, i)
						}
					}
				}
			}
		})
	}
}

// meanRows and scaleRows must write every value (NaN-filled outputs) and
// match float64 sums, on maps large enough that batch 1 splits each image
// across workers and rows that are not a whole number of vector tiles.
func TestMeanAndScaleRows(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, d := range []struct{ n, hw, c int }{{1, 333 * 301, 5}, {3, 1000, 37}, {2, 7, 1500}, {1, 1, 3}, {5, 0, 4}} {
		x := randT(rng, d.n, max(d.hw, 1), 1, d.c).F32[:d.n*d.hw*d.c]
		s := randT(rng, d.n, d.c).F32
		m := make([]float32, d.n*d.c)
		y := make([]float32, len(x))
		for _, v := range [][]float32{m, y} {
			for i := range v {
				v[i] = float32(math.NaN())
			}
		}
		meanRows(m, x, d.n, d.hw, d.c)
		scaleRows(y, x, s, d.n, d.hw, d.c)
		for b := range d.n {
			for j := range d.c {
				var sum float64
				for p := range d.hw {
					i := (b*d.hw+p)*d.c + j
					sum += float64(x[i])
					// The float64 product of two float32s is exact, so
					// rounding it once is the float32 product.
					if want := float32(float64(x[i]) * float64(s[b*d.c+j])); y[i] != want {
						t.Fatalf("%v: y[%d] = %v, want %v", d, i, y[i], want)
					}
				}
				want := sum / float64(d.hw)
				got := float64(m[b*d.c+j])
				if d.hw == 0 {
					if !math.IsNaN(got) {
						t.Fatalf("%v: mean of an empty map = %v, want NaN (as Mean)", d, got)
					}
					continue
				}
				if !(math.Abs(got-want) <= 1e-5*math.Max(1, math.Abs(want))) {
					t.Fatalf("%v: mean[%d,%d] = %v, want %v", d, b, j, got, want)
				}
			}
		}
	}
}

// TestSqueezeExciteProjection checks the block folded into the pointwise
// convolution that alone reads it (p = (x*s) Wp + bp, plus a residual),
// on both of its paths (the scale in the filter per image where the
// filter is smaller than the map, else x scaled first), against the
// float64 reference, and that a fetched block output is not folded.
func TestSqueezeExciteProjection(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name          string
		conv, resid   bool
		n, h, w, c, o int
		fetchY        bool
		nodesOK       int
	}{
		{name: "filter scaled per image", n: 3, h: 5, w: 7, c: 6, o: 3, nodesOK: 2},
		{name: "filter scaled, residual, batch 1", conv: true, resid: true, n: 1, h: 6, w: 6, c: 7, o: 7, nodesOK: 3},
		{name: "filter scaled, residual", conv: true, resid: true, n: 4, h: 6, w: 6, c: 7, o: 7, nodesOK: 3},
		{name: "x scaled first (in place), residual", conv: true, resid: true, n: 2, h: 3, w: 3, c: 11, o: 11, nodesOK: 3},
		{name: "x scaled first", n: 2, h: 2, w: 3, c: 5, o: 40, nodesOK: 2},
		{name: "block output fetched: not folded", n: 2, h: 5, w: 5, c: 6, o: 2, fetchY: true, nodesOK: 3},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(13, uint64(i)))
			const r = 3
			in := randT(rng, tc.n, tc.h, tc.w, tc.c)
			w0, w1, b1, w2, b2 := randT(rng, 1, 1, tc.c, tc.c), randT(rng, 1, 1, tc.c, r), randT(rng, r), randT(rng, 1, 1, r, tc.c), randT(rng, tc.c)
			wp, bp := randT(rng, 1, 1, tc.c, tc.o), randT(rng, tc.o)
			consts := map[string]*tensor.Tensor{"axes": i32([]int{2}, 1, 2), "w0": w0, "w1": w1, "b1": b1, "w2": w2, "b2": b2, "wp": wp, "bp": bp,
				"begin": i32([]int{1}, 0), "end": i32([]int{1}, 1), "one": i32([]int{1}, 1), "one1": i32(nil, 1), "c": i32(nil, int32(tc.c))}
			feed, x := "x", in
			if tc.conv {
				feed = "in"
				x = tensor.New(tensor.Float32, in.Shape...)
				x.F32 = refConv(in, w0, 1, 1, 0, 0, tc.h, tc.w, false)
			}
			nodes := append(seNodes(false, false, tc.conv, false), nodeDef("wp", "Const", nil, nil), nodeDef("bp", "Const", nil, nil),
				nodeDef("proj", "Conv2D", []string{"y", "wp"}, convAttrs("SAME", 1, 1)),
				nodeDef("p", "BiasAdd", []string{"proj", "bp"}, nil))
			if tc.resid {
				nodes = append(nodes, nodeDef("pr", "AddV2", []string{"p", "in"}, nil))
			}
			outputs := []string{nodes[len(nodes)-1].GetName() + ":0"}
			if tc.fetchY {
				outputs = append(outputs, "y:0")
			}
			opt, err := New(graphOf(nodes, consts, []string{feed}, outputs))
			if err != nil {
				t.Fatal(err)
			}
			if len(opt.nodes) != tc.nodesOK {
				var ops []string
				for _, n := range opt.nodes {
					ops = append(ops, n.name()+"/"+n.op())
				}
				t.Errorf("optimised engine: nodes %v, want %d", ops, tc.nodesOK)
			}
			se := refSqueezeExcite(x, w1, b1, w2, b2, false)
			hw := tc.h * tc.w
			want := make([]float64, tc.n*hw*tc.o)
			for p := range tc.n * hw {
				for j := range tc.o {
					v := float64(bp.F32[j])
					for ci := range tc.c {
						v += se[p*tc.c+ci] * float64(wp.F32[ci*tc.o+j])
					}
					if tc.resid {
						v += float64(in.F32[p*tc.c+j])
					}
					want[p*tc.o+j] = v
				}
			}
			for run := range 2 {
				out, err := opt.Run(context.Background(), map[string]*tensor.Tensor{feed: in})
				if err != nil {
					t.Fatal(err)
				}
				got := out[outputs[0]]
				if got == nil || len(got.F32) != len(want) {
					t.Fatalf("output %v, want %d values", got, len(want))
				}
				for i, w := range want {
					if d := math.Abs(float64(got.F32[i]) - w); !(d <= 1e-5*math.Max(1, math.Abs(w))) {
						t.Fatalf("run %d: p[%d] = %v, want %v", run, i, got.F32[i], w)
					}
				}
				if tc.fetchY {
					for i, w := range se {
						if d := math.Abs(float64(out["y:0"].F32[i]) - w); !(d <= 1e-5*math.Max(1, math.Abs(w))) {
							t.Fatalf("run %d: y[%d] = %v, want %v", run, i, out["y:0"].F32[i], w)
						}
					}
				}
			}
		})
	}
}

// An Engine serves concurrent runs: the fused blocks' scratch (the mean,
// the per-image filters) and the in-place scale must be per run.
func TestSqueezeExciteConcurrentRuns(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(17, 18))
	const n, h, w, c, r = 2, 6, 6, 9, 3
	in := randT(rng, n, h, w, c)
	w0, w1, b1, w2, b2 := randT(rng, 1, 1, c, c), randT(rng, 1, 1, c, r), randT(rng, r), randT(rng, 1, 1, r, c), randT(rng, c)
	wp := randT(rng, 1, 1, c, c)
	consts := map[string]*tensor.Tensor{"axes": i32([]int{2}, 1, 2), "w0": w0, "w1": w1, "b1": b1, "w2": w2, "b2": b2, "wp": wp,
		"begin": i32([]int{1}, 0), "end": i32([]int{1}, 1), "one": i32([]int{1}, 1), "one1": i32(nil, 1), "c": i32(nil, c)}
	nodes := append(seNodes(false, false, true, false), nodeDef("wp", "Const", nil, nil),
		nodeDef("proj", "Conv2D", []string{"y", "wp"}, convAttrs("SAME", 1, 1)),
		nodeDef("p", "AddV2", []string{"proj", "in"}, nil))
	e, err := New(graphOf(nodes, consts, []string{"in"}, []string{"p:0"}))
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(tensor.Float32, in.Shape...)
	x.F32 = refConv(in, w0, 1, 1, 0, 0, h, w, false)
	se := refSqueezeExcite(x, w1, b1, w2, b2, false)
	want := make([]float64, len(se))
	for p := range n * h * w {
		for j := range c {
			v := float64(in.F32[p*c+j])
			for ci := range c {
				v += se[p*c+ci] * float64(wp.F32[ci*c+j])
			}
			want[p*c+j] = v
		}
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			for range 3 {
				out, err := e.Run(context.Background(), map[string]*tensor.Tensor{"in": in})
				if err != nil {
					errs <- err
					return
				}
				for i, w := range want {
					if d := math.Abs(float64(out["p:0"].F32[i]) - w); !(d <= 1e-5*math.Max(1, math.Abs(w))) {
						errs <- fmt.Errorf("p[%d] = %v, want %v", i, out["p:0"].F32[i], w)
						return
					}
				}
			}
			errs <- nil
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
