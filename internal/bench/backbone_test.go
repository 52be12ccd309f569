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
// machine's drift must slow both alike), each at least minTime and three
// batches after its warm-up.
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
	// Warm-ups (0, 1), then at least turns turns each: 2*turns switches.
	if switches < 2*turns-1 {
		t.Errorf("%d switches between the engines in %d batches: they did not take turns", switches, len(log))
	}
	for i, r := range rates {
		n := 0
		for _, id := range log {
			if id == i {
				n++
			}
		}
		if r.Runs < 3 || r.Runs != n-1 || r.ImagesPerSec <= 0 {
			t.Errorf("engine %d: %+v after %d batches (one a warm-up)", i, r, n)
		}
	}
}
