package bench

import (
	"context"
	"testing"
	"time"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
)

func TestBackboneOnFixture(t *testing.T) {
	bb, err := native.Open("../../testdata/models/mnist_cnn", native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := Backbone(context.Background(), bb, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	// conv2d_1 and conv2d_2 tie on FLOPs (2*2*196*144*32 = 2*2*49*288*64);
	// the first one found wins.
	if res.SgemmShape != [3]int{2 * 14 * 14, 32, 144} || res.ConvShare <= 0 || res.GFLOPs <= 0 || res.ImagesPerSec <= 0 {
		t.Errorf("implausible result %+v", res)
	}
	// The slowest nodes: the fixture's 13 nodes, at most 8 listed, most
	// time first, shares of one run's time; the counted ops (Conv2D,
	// MatMul) have a rate, the others none.
	if len(res.Slowest) != slowestNodes {
		t.Fatalf("%d slowest nodes, want %d: %+v", len(res.Slowest), slowestNodes, res.Slowest)
	}
	seen, sum := map[string]bool{}, 0.0
	for i, n := range res.Slowest {
		sum += n.Share
		if seen[n.Name] || n.Share <= 0 || i > 0 && n.Share > res.Slowest[i-1].Share || len(n.Output) == 0 {
			t.Errorf("slowest[%d] = %+v", i, n)
		}
		seen[n.Name] = true
		if counted := n.Op == "Conv2D" || n.Op == "MatMul"; counted != (n.GFLOPs > 0) {
			t.Errorf("slowest[%d] %s: %.3g GFLOP/s", i, n.Op, n.GFLOPs)
		}
	}
	if sum > 1+1e-9 {
		t.Errorf("the slowest nodes' shares add up to %v", sum)
	}
	if !seen["StatefulPartitionedCall/StatefulPartitionedCall/sequential/conv2d/Relu"] {
		t.Errorf("the first conv (28x28x16 on a 1-channel input) is not among the slowest: %+v", res.Slowest)
	}
}

func TestNodeFLOPs(t *testing.T) {
	f, g := nodeFLOPs(native.NodeRun{Op: "Conv2D", Inputs: [][]int{{2, 5, 5, 3}, {3, 3, 3, 4}}, Output: []int{2, 5, 5, 4}})
	if f != 2*50*27*4 || g != [3]int{50, 4, 27} {
		t.Errorf("conv: %v %v", f, g)
	}
	if f, _ := nodeFLOPs(native.NodeRun{Op: "MatMul", Inputs: [][]int{{8, 6}, {6, 3}}, Output: []int{8, 3}}); f != 2*8*3*6 {
		t.Errorf("matmul: %v", f)
	}
	if f, _ := nodeFLOPs(native.NodeRun{Op: "DepthwiseConv2dNative", Inputs: [][]int{{1, 4, 4, 2}, {3, 3, 2, 2}}, Output: []int{1, 4, 4, 4}}); f != 2*64*9 {
		t.Errorf("depthwise: %v", f)
	}
}

// turnTaker records which backbone ran each batch, around a real one.
type turnTaker struct {
	*native.Backbone
	id  int
	log *[]int
}

func (b turnTaker) Features(ctx context.Context, x *tensor.Tensor) (*tensor.Tensor, error) {
	*b.log = append(*b.log, b.id)
	return b.Backbone.Features(ctx, x)
}

// TestThroughputsTakeTurns: two engines side by side run in turns (the
// machine's drift must slow both alike), each at least minTime and a
// batch a turn after its warm-up.
func TestThroughputsTakeTurns(t *testing.T) {
	nb, err := native.Open("../../testdata/models/mnist_cnn", native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var log []int
	bbs := []backbone.Backbone{turnTaker{nb, 0, &log}, turnTaker{nb, 1, &log}}
	const minTime = 40 * time.Millisecond
	start := time.Now()
	rates, err := Throughputs(context.Background(), bbs, 2, minTime)
	if err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 2*minTime {
		t.Errorf("took %v for two engines of %v each", el, minTime)
	}
	switches := 0
	for i := 1; i < len(log); i++ {
		if log[i] != log[i-1] {
			switches++
		}
	}
	// The warm-ups (0, 1), then turns turns of 0s and 1s.
	if switches != 2*turns+1 {
		t.Errorf("%d switches between the engines in %d batches, want %d: they did not take turns", switches, len(log), 2*turns+1)
	}
	for i, r := range rates {
		n := 0
		for _, id := range log {
			if id == i {
				n++
			}
		}
		if r.Runs < turns || r.Runs != n-1 || r.ImagesPerSec <= 0 {
			t.Errorf("engine %d: %+v after %d batches (one a warm-up)", i, r, n)
		}
	}
}
