package bench

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
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
