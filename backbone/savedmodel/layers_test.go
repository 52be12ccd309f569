package savedmodel

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// Every tensor's Layer is a name --tap accepts, and it leads into that
// layer: on TF1 graphs of a Keras model nested in a Sequential (weights
// under the layers' own scopes, ops under the models'), with a head beside
// it or alone, on a TF2 Keras model and on TensorFlow-written TF1 graphs.
func TestLayersAreTapNames(t *testing.T) {
	nested := testmodules.KerasTF1Nested(t, true)
	for _, c := range []struct {
		name, dir string
		want      map[string]string // tensor -> layer
	}{
		{"tf1 nested keras", nested, map[string]string{
			"sequential_1/mobilenetv2_1.00_224/Conv1/Conv2D:0":   "Conv1",
			"sequential_1/mobilenetv2_1.00_224/out_relu/Relu6:0": "out_relu",
			"sequential_1/global_average_pooling2d/Mean:0":       "global_average_pooling2d",
			"sequential_1/dense/Softmax:0":                       "dense",
			"input_1:0":                                          "",
		}},
		{"tf1 keras in a bare sequential", testmodules.KerasTF1Nested(t, false), map[string]string{
			"sequential_1/mobilenetv2_1.00_224/Conv1/Conv2D:0":   "Conv1",
			"sequential_1/mobilenetv2_1.00_224/out_relu/Relu6:0": "out_relu",
		}},
		{"keras 2", "../../testdata/models/fashion_cnn", map[string]string{
			"StatefulPartitionedCall/StatefulPartitionedCall/sequential/conv2d_2/BiasAdd:0": "conv2d_2",
			"StatefulPartitionedCall/StatefulPartitionedCall/sequential/dense/Softmax:0":    "dense",
			"StatefulPartitionedCall/Identity:0":                                            "",
		}},
		{"tf1 frozen", testmodules.TFModel(t, "python/compiler/tensorrt/model_tests/sample_model"), map[string]string{
			"conv2d_1/Relu:0": "conv2d_1",
		}},
		{"tf1 variables", testmodules.TFModel(t, "python/compiler/tensorrt/test/testdata/tf_variablev2_saved_model"), map[string]string{
			"add:0": "add", // a node of its own, under no scope
		}},
	} {
		m, err := Load(c.dir)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		descs, err := m.Tensors("")
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		got := map[string]string{}
		for _, d := range descs {
			got[d.Name] = d.Layer
			if d.Layer == "" {
				continue
			}
			tap, err := m.ResolveTensor("", d.Layer)
			node, _, _ := strings.Cut(tap, ":")
			if err != nil || !(node == d.Layer || strings.HasPrefix(node, d.Layer+"/") || strings.Contains(node, "/"+d.Layer+"/") || strings.HasSuffix(node, "/"+d.Layer)) {
				t.Errorf("%s: %s has layer %q, which --tap resolves to %q, %v", c.name, d.Name, d.Layer, tap, err)
			}
		}
		for tensor, layer := range c.want {
			if l, ok := got[tensor]; !ok || l != layer {
				t.Errorf("%s: %s has layer %q (listed %v), want %q", c.name, tensor, l, ok, layer)
			}
		}
	}
	// The layer's name gives its last op.
	m, err := Load(nested)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := m.ResolveTensor("", "out_relu"); err != nil || got != "sequential_1/mobilenetv2_1.00_224/out_relu/Relu6:0" {
		t.Errorf("--tap out_relu: %q, %v", got, err)
	}
}
