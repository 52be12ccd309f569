package inspect

import (
	"fmt"
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// The suggested taps on the tail of a MobileNetV2 (shapes as TensorFlow
// infers them at 224x224): the last map of each of the last three sizes,
// deepest first, not the padding before a strided depthwise conv, not a
// squeeze-and-excite branch's 1x1 map, not the output's copy, and the
// tensor's name where a layer's last op is another tensor.
func TestSuggestTaps(t *testing.T) {
	tn := func(layer, name, op string, shape ...int) Tensor {
		return Tensor{Name: name, Op: op, Layer: layer, Shape: append([]int{-1}, shape...), Tappable: true}
	}
	tensors := []Tensor{
		tn("", "input_1:0", "Placeholder", 224, 224, 3),
		tn("block_6_expand_relu", "block_6_expand_relu/Relu6:0", "Relu6", 28, 28, 192),
		tn("block_6_pad", "block_6_pad/Pad:0", "Pad", 29, 29, 192),
		tn("block_6_depthwise", "block_6_depthwise/depthwise:0", "DepthwiseConv2dNative", 14, 14, 192),
		tn("block_13_expand_relu", "block_13_expand_relu/Relu6:0", "Relu6", 14, 14, 576),
		tn("block_13_pad", "block_13_pad/Pad:0", "Pad", 15, 15, 576),
		tn("block_13_depthwise", "block_13_depthwise/depthwise:0", "DepthwiseConv2dNative", 7, 7, 576),
		tn("se", "se/Mean:0", "Mean", 1, 1, 576),
		tn("Conv_1_bn", "Conv_1_bn/FusedBatchNormV3:0", "FusedBatchNormV3", 7, 7, 1280),
		tn("", "out_relu:0", "Relu6", 7, 7, 1280),
		{Name: "Conv_1/kernel:0", Op: "Const", Shape: []int{1, 1, 320, 1280}},
		tn("global_average_pooling2d", "global_average_pooling2d/Mean:0", "Mean", 1280),
		tn("", "Identity:0", "Identity", 7, 7, 1280),
	}
	got := SuggestTaps(tensors)
	want := []Tap{
		{"out_relu:0", "out_relu:0", []int{-1, 7, 7, 1280}},
		{"block_13_expand_relu", "block_13_expand_relu/Relu6:0", []int{-1, 14, 14, 576}},
		{"block_6_expand_relu", "block_6_expand_relu/Relu6:0", []int{-1, 28, 28, 192}},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("suggested %v\nwant %v", got, want)
	}
	// No rank-4 map: nothing to suggest.
	if got := SuggestTaps([]Tensor{tn("dense", "dense/MatMul:0", "MatMul", 10)}); len(got) != 0 {
		t.Errorf("suggested %v on a dense model", got)
	}
}

// What a head can tap, on the tensors of a TF1 graph as TensorFlow 2.21
// writes it (conv, fused batch norm in inference, Relu6): batch-norm
// side outputs, weights and their reads are not.
func TestTappable(t *testing.T) {
	fromInput := map[string]bool{"input": true, "Conv1/Conv2D": true, "bn_Conv1/FusedBatchNormV3": true, "Conv1_relu": true}
	for _, c := range []struct {
		name, node, op string
		dtype          tensor.DType
		shape          []int
		want           bool
	}{
		{"input:0", "input", "Placeholder", tensor.Float32, []int{-1, 16, 16, 3}, true},
		{"Conv1/kernel:0", "Conv1/kernel", "VariableV2", tensor.Float32, []int{3, 3, 3, 8}, false},
		{"Conv1/kernel/read:0", "Conv1/kernel/read", "Identity", tensor.Float32, []int{3, 3, 3, 8}, false},
		{"Conv1/Conv2D:0", "Conv1/Conv2D", "Conv2D", tensor.Float32, []int{-1, 16, 16, 8}, true},
		{"bn_Conv1/FusedBatchNormV3/ReadVariableOp:0", "bn_Conv1/FusedBatchNormV3/ReadVariableOp", "ReadVariableOp", tensor.Float32, []int{8}, false},
		{"bn_Conv1/FusedBatchNormV3:0", "bn_Conv1/FusedBatchNormV3", "FusedBatchNormV3", tensor.Float32, []int{-1, 16, 16, 8}, true},
		{"bn_Conv1/FusedBatchNormV3:1", "bn_Conv1/FusedBatchNormV3", "FusedBatchNormV3", tensor.Float32, []int{8}, false},
		{"bn_Conv1/FusedBatchNormV3:5", "bn_Conv1/FusedBatchNormV3", "FusedBatchNormV3", tensor.Float32, []int{0}, false},
		{"Conv1_relu:0", "Conv1_relu", "Relu6", tensor.Float32, []int{-1, 16, 16, 8}, true},
		{"gap/reduction_indices:0", "gap/reduction_indices", "Const", tensor.Int32, []int{2}, false},
		{"Shape:0", "Shape", "Shape", tensor.Int32, []int{4}, false},
	} {
		d := savedmodel.TensorDesc{Name: c.name, Node: c.node, Op: c.op, DType: c.dtype}
		if got := tappable(d, c.shape, fromInput); got != c.want {
			t.Errorf("%s (%s %v): tappable %v, want %v", c.name, c.op, c.shape, got, c.want)
		}
	}
}
