package native

import (
	"context"
	"os"
	"runtime/debug"
	"testing"

	framework "github.com/galeone/tensorflow/tensorflow/go/core/framework/node_def_go_proto"

	"github.com/graft-ml/graft/backbone/tensor"
)

// TestWorkingSetByHand replays the arena's allocations on a graph whose
// buffers are counted by hand: with S = 32n floats (one [n,4,4,2]),
//
//	a = -x          new A (S)
//	b = relu(a)     new B (S); a's last use frees A
//	c = -b          takes A; frees B
//	p = pad(c)      [n,6,6,2] = 72n: nothing that large is free, new P
//	q = p[:, :4, :4]  takes B (S); frees P
//	r = reshape(q)  a view of B
//
// so the arena ends holding A, B and P: 136n floats, 544n bytes; the fed
// x and the constants are not its.
func TestWorkingSetByHand(t *testing.T) {
	nodes := []*framework.NodeDef{
		nodeDef("x", "Placeholder", nil, attrMap{"dtype": aType(tensor.Float32), "shape": aShape(-1, 4, 4, 2)}),
		nodeDef("a", "Neg", []string{"x"}, nil),
		nodeDef("b", "Relu", []string{"a"}, nil),
		nodeDef("c", "Neg", []string{"b"}, nil),
		nodeDef("pads", "Const", nil, nil),
		nodeDef("p", "Pad", []string{"c", "pads"}, nil),
		nodeDef("begin", "Const", nil, nil),
		nodeDef("size", "Const", nil, nil),
		nodeDef("q", "Slice", []string{"p", "begin", "size"}, nil),
		nodeDef("shape", "Const", nil, nil),
		nodeDef("r", "Reshape", []string{"q", "shape"}, nil),
	}
	consts := map[string]*tensor.Tensor{
		"pads":  i32([]int{4, 2}, 0, 0, 1, 1, 1, 1, 0, 0),
		"begin": i32([]int{4}, 0, 0, 0, 0), "size": i32([]int{4}, -1, 4, 4, 2),
		"shape": i32([]int{2}, -1, 32),
	}
	g := graphOf(nodes, consts, []string{"x"}, []string{"r:0"})
	for _, n := range []int{1, 3} {
		got, err := WorkingSet(g, []int{-1, 4, 4, 2}, n)
		if err != nil {
			t.Fatal(err)
		}
		if want := int64(544 * n); got != want {
			t.Errorf("batch %d: %d bytes; want %d", n, got, want)
		}
	}
	if _, err := WorkingSet(g, []int{-1, -1, 4, 2}, 1); err == nil {
		t.Error("an input of unknown height: no error")
	}
}

// TestWorkingSetIsTheArena checks the replay against the arena itself:
// the bytes a fresh engine's arena allocates while it really runs a
// batch (with real data, the executor's own order, views and reuse), on
// the fixture CNN and, when the zoo is built, MobileNetV2.
func TestWorkingSetIsTheArena(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // the pool keeps the arena
	for _, m := range []struct{ dir, output string }{
		{"../../testdata/models/fashion_cnn", ""},
		{"../../build/zoo/MobileNetV2/tf1_frozen/model", "probabilities"},
	} {
		if _, err := os.Stat(m.dir); err != nil {
			t.Logf("%s: %v", m.dir, err)
			continue
		}
		for _, n := range []int{1, 7} {
			bb, err := Open(m.dir, Options{Tags: []string{"serve"}, Signature: "serving_default", Output: m.output})
			if err != nil {
				t.Fatal(err)
			}
			in := bb.Input().Shape
			want, err := bb.WorkingSet(n)
			if err != nil {
				t.Fatal(err)
			}
			x := tensor.New(tensor.Float32, n, in[1], in[2], in[3])
			for i := range x.F32 {
				x.F32[i] = float32(i%255) / 255
			}
			if _, err := bb.Features(context.Background(), x); err != nil {
				t.Fatal(err)
			}
			ar, _ := bb.engine.arenas.Get().(*arena)
			if ar == nil {
				t.Fatal("the run's arena is not in the pool")
			}
			if ar.made != want {
				t.Errorf("%s batch %d: the arena allocated %d bytes; WorkingSet says %d", m.dir, n, ar.made, want)
			}
		}
	}
}
