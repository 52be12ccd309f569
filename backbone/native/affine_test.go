package native

import (
	"context"
	"math"
	"math/rand/v2"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// step is one op of a chain on the running value v and a constant c
// (swap: the constant is the op's first input), with its float64
// definition.
type step struct {
	op   string
	c    *tensor.Tensor
	swap bool
}

func (s step) apply(v, c float64) float64 {
	if s.swap {
		v, c = c, v
	}
	switch s.op {
	case "Mul":
		return v * c
	case "Sub":
		return v - c
	case "RealDiv":
		return v / c
	}
	return v + c
}

// TestChannelAffineFused checks chains of per-channel arithmetic against
// the ops applied one by one in float64 (with numpy broadcasting written
// out), that a chain becomes one node where nothing inside it is
// observable, and that it is not fused where something is, or where an op
// is not affine in x.
func TestChannelAffineFused(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(9, 10))
	ch := func(shape ...int) *tensor.Tensor { // values away from 0, for RealDiv
		t := randT(rng, shape...)
		for i, v := range t.F32 {
			t.F32[i] = float32(math.Copysign(0.5+math.Abs(float64(v)), float64(v)))
		}
		return t
	}
	cases := []struct {
		name    string
		x       []int
		steps   []step
		fetch   string // an inner node also fetched
		want    []int  // the output's shape
		affine  int    // fused nodes expected
		nodesOK int
	}{
		{name: "rescaling+normalization", x: []int{2, 5, 3, 3},
			steps: []step{{op: "Mul", c: f32(nil, 1/127.5)}, {op: "AddV2", c: f32(nil, -1)}, {op: "Sub", c: ch(1, 1, 1, 3)}, {op: "RealDiv", c: ch(1, 1, 1, 3)}},
			want:  []int{2, 5, 3, 3}, affine: 1, nodesOK: 2},
		{name: "swapped operands, odd channels", x: []int{4, 7},
			steps: []step{{op: "Add", c: ch(7), swap: true}, {op: "Sub", c: ch(1, 7), swap: true}, {op: "Mul", c: ch(7), swap: true}},
			want:  []int{4, 7}, affine: 1, nodesOK: 2},
		{name: "many channels, long", x: []int{1, 3, 3, 1100},
			steps: []step{{op: "Mul", c: ch(1100)}, {op: "AddV2", c: ch(1100)}},
			want:  []int{1, 3, 3, 1100}, affine: 1, nodesOK: 2},
		{name: "broadcast grows x", x: []int{2, 1},
			steps: []step{{op: "Mul", c: ch(1, 4)}, {op: "Sub", c: f32(nil, 0.25)}},
			want:  []int{2, 4}, affine: 1, nodesOK: 2},
		{name: "constant of higher rank", x: []int{3},
			steps: []step{{op: "Mul", c: ch(1, 1, 3)}, {op: "AddV2", c: ch(3)}},
			want:  []int{1, 1, 3}, affine: 1, nodesOK: 2},
		{name: "scalar", x: []int{},
			steps: []step{{op: "Mul", c: f32(nil, 3)}, {op: "AddV2", c: f32(nil, -2)}},
			want:  []int{}, affine: 1, nodesOK: 2},
		{name: "fetched tensor ends the chain", x: []int{2, 3}, fetch: "s1",
			steps: []step{{op: "Mul", c: ch(3)}, {op: "AddV2", c: ch(3)}, {op: "Sub", c: ch(3)}},
			want:  []int{2, 3}, affine: 1, nodesOK: 4}, // x, s0+s1, c2, s2
		{name: "inner tensor fetched: no fusion", x: []int{2, 3}, fetch: "s0",
			steps: []step{{op: "Mul", c: ch(3)}, {op: "AddV2", c: ch(3)}},
			want:  []int{2, 3}, affine: 0, nodesOK: 5},
		{name: "c / x ends the chain: no fusion", x: []int{2, 3},
			steps: []step{{op: "Mul", c: ch(3)}, {op: "RealDiv", c: ch(3), swap: true}},
			want:  []int{2, 3}, affine: 0, nodesOK: 5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			x := ch(tc.x...)
			nodes := []*framework.NodeDef{nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32)})}
			consts := map[string]*tensor.Tensor{}
			prev := "x"
			for i, s := range tc.steps {
				c, name := "c"+string(rune('0'+i)), "s"+string(rune('0'+i))
				in := []string{prev, c}
				if s.swap {
					in = []string{c, prev}
				}
				consts[c] = s.c
				nodes = append(nodes, nodeDef(c, "Const", nil, nil), nodeDef(name, s.op, in, nil))
				prev = name
			}
			outputs := []string{prev + ":0"}
			if tc.fetch != "" {
				outputs = append(outputs, tc.fetch+":0")
			}
			opt, err := New(graphOf(nodes, consts, []string{"x"}, outputs))
			if err != nil {
				t.Fatal(err)
			}
			fused := 0
			for _, n := range opt.nodes {
				if n.op() == affineOp {
					fused++
				}
			}
			if fused != tc.affine || len(opt.nodes) != tc.nodesOK {
				var ops []string
				for _, n := range opt.nodes {
					ops = append(ops, n.name()+"/"+n.op())
				}
				t.Errorf("optimised engine: nodes %v, want %d fused of %d", ops, tc.affine, tc.nodesOK)
			}
			// The oracle: each op in float64, x and every constant
			// broadcast to the output's shape by index.
			at := func(v *tensor.Tensor, idx []int) float64 {
				off, stride := 0, 1
				for d := len(v.Shape) - 1; d >= 0; d-- {
					i := idx[len(idx)-len(v.Shape)+d]
					if v.Shape[d] == 1 {
						i = 0
					}
					off += i * stride
					stride *= v.Shape[d]
				}
				return float64(v.F32[off])
			}
			n := tensor.NumElements(tc.want)
			want := make([]float64, n)
			idx := make([]int, len(tc.want))
			for i := range n {
				for d, r := len(tc.want)-1, i; d >= 0; d-- {
					idx[d], r = r%tc.want[d], r/tc.want[d]
				}
				v := at(x, idx)
				for _, s := range tc.steps {
					v = s.apply(v, at(s.c, idx))
				}
				want[i] = v
			}
			for run := range 2 { // the second gets recycled, uncleared buffers
				out, err := opt.Run(context.Background(), map[string]*tensor.Tensor{"x": x})
				if err != nil {
					t.Fatal(err)
				}
				got := out[outputs[0]]
				if !sameShape(got.Shape, tc.want) {
					t.Fatalf("shape %v, want %v", got.Shape, tc.want)
				}
				for i, w := range want {
					if d := math.Abs(float64(got.F32[i]) - w); !(d <= 2e-6*math.Max(1, math.Abs(w))) {
						t.Fatalf("run %d: y[%d] = %v, want %v", run, i, got.F32[i], w)
					}
				}
			}
		})
	}
}
