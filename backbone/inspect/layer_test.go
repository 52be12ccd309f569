package inspect

import (
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Layer names as the three kinds of Keras export spell their ops (names
// taken from TensorFlow-written models: a TF1 frozen Keras graph, a TF2
// Keras 2 Sequential, a Keras 3 MobileNetV2 export).
func TestLayerNames(t *testing.T) {
	for _, c := range []struct {
		name  string
		nodes []string
		want  []string
	}{
		{"tf1 keras", []string{"Placeholder", "conv2d/Conv2D", "conv2d/BiasAdd", "bn_Conv1/cond/FusedBatchNormV3", "Identity"},
			[]string{"", "conv2d", "conv2d", "bn_Conv1", ""}},
		{"keras 2", []string{"serving_default_conv2d_input", "StatefulPartitionedCall/StatefulPartitionedCall/sequential/conv2d_2/Relu",
			"StatefulPartitionedCall/StatefulPartitionedCall/sequential/dense/Softmax", "StatefulPartitionedCall/Identity"},
			[]string{"", "conv2d_2", "dense", ""}},
		{"keras 3", []string{"serving_default_keras_tensor", "StatefulPartitionedCall_1/StatefulPartitionedCall/mobilenetv2_0.35_96_1/Conv1_1/convolution",
			"StatefulPartitionedCall_1/StatefulPartitionedCall/mobilenetv2_0.35_96_1/bn_Conv1_1/batchnorm/add_1",
			"StatefulPartitionedCall_1/StatefulPartitionedCall/mobilenetv2_0.35_96_1/block_4_add_1/Add"},
			[]string{"", "Conv1_1", "bn_Conv1_1", "block_4_add_1"}},
	} {
		var descs []savedmodel.TensorDesc
		for _, n := range c.nodes {
			descs = append(descs, savedmodel.TensorDesc{Name: n + ":0", Node: n})
		}
		model := modelScope(descs)
		for i, d := range descs {
			if got := layer(d, model); got != c.want[i] {
				t.Errorf("%s: layer of %s = %q, want %q", c.name, d.Node, got, c.want[i])
			}
		}
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
