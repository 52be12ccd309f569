package testmodules

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// KerasTF1Nested writes, into a new folder, a frozen SavedModel laid out
// as TF 1.x Keras writes a pretrained model wrapped in a Sequential: the
// weights under the layers' own scopes ("Conv1/kernel"), the ops under the
// outer models' ("sequential_1/mobilenetv2_1.00_224/Conv1/Conv2D"), with
// head a global average pool and a dense layer on top, without it nothing
// but the pretrained model in the Sequential. Input [N 16 16 3]; the
// feature maps are Conv1_relu [8 8 8], block_1_expand_relu [4 4 16] and
// out_relu [4 4 32].
func KerasTF1Nested(t testing.TB, head bool) string {
	t.Helper()
	const mn = "sequential_1/mobilenetv2_1.00_224/"
	var b strings.Builder
	b.WriteString("saved_model_schema_version: 1\nmeta_graphs {\n  meta_info_def { tags: \"serve\" tensorflow_version: \"1.15.5\" }\n  graph_def {\n")
	node := func(name, op string, inputs []string, attrs ...string) {
		fmt.Fprintf(&b, "    node { name: %q op: %q", name, op)
		for _, in := range inputs {
			fmt.Fprintf(&b, " input: %q", in)
		}
		for _, a := range attrs {
			b.WriteString(" " + a)
		}
		b.WriteString(" }\n")
	}
	const float = `attr { key: "T" value { type: DT_FLOAT } }`
	shape := func(dims ...int) string {
		var s strings.Builder
		for _, d := range dims {
			fmt.Fprintf(&s, " dim { size: %d }", d)
		}
		return "tensor_shape {" + s.String() + " }"
	}
	weights := func(name string, dims ...int) {
		node(name, "Const", nil, `attr { key: "dtype" value { type: DT_FLOAT } }`,
			fmt.Sprintf(`attr { key: "value" value { tensor { dtype: DT_FLOAT %s float_val: 0.05 } } }`, shape(dims...)))
	}
	conv := func(layer, in string, stride, k, cin, cout int) string {
		weights(layer+"/kernel", k, k, cin, cout)
		name := mn + layer + "/Conv2D"
		node(name, "Conv2D", []string{in, layer + "/kernel"}, float,
			fmt.Sprintf(`attr { key: "strides" value { list { i: 1 i: %d i: %d i: 1 } } }`, stride, stride),
			`attr { key: "padding" value { s: "SAME" } }`, `attr { key: "data_format" value { s: "NHWC" } }`)
		return name
	}
	relu := func(layer, in string) string {
		node(mn+layer+"/Relu6", "Relu6", []string{in}, float)
		return mn + layer + "/Relu6"
	}
	node("input_1", "Placeholder", nil, `attr { key: "dtype" value { type: DT_FLOAT } }`, `attr { key: "shape" value { shape { dim { size: -1 } dim { size: 16 } dim { size: 16 } dim { size: 3 } } } }`)
	x := relu("Conv1_relu", conv("Conv1", "input_1", 2, 3, 3, 8))
	x = relu("block_1_expand_relu", conv("block_1_expand", x, 2, 1, 8, 16))
	x = relu("out_relu", conv("Conv_1", x, 1, 1, 16, 32))
	out, outShape := x+":0", "dim { size: -1 } dim { size: 4 } dim { size: 4 } dim { size: 32 }"
	if head {
		node("sequential_1/global_average_pooling2d/Mean/reduction_indices", "Const", nil, `attr { key: "dtype" value { type: DT_INT32 } }`,
			`attr { key: "value" value { tensor { dtype: DT_INT32 tensor_shape { dim { size: 2 } } int_val: 1 int_val: 2 } } }`)
		node("sequential_1/global_average_pooling2d/Mean", "Mean", []string{x, "sequential_1/global_average_pooling2d/Mean/reduction_indices"}, float,
			`attr { key: "Tidx" value { type: DT_INT32 } }`, `attr { key: "keep_dims" value { b: false } }`)
		weights("dense/kernel", 32, 5)
		node("sequential_1/dense/MatMul", "MatMul", []string{"sequential_1/global_average_pooling2d/Mean", "dense/kernel"}, float,
			`attr { key: "transpose_a" value { b: false } }`, `attr { key: "transpose_b" value { b: false } }`)
		node("sequential_1/dense/Softmax", "Softmax", []string{"sequential_1/dense/MatMul"}, float)
		out, outShape = "sequential_1/dense/Softmax:0", "dim { size: -1 } dim { size: 5 }"
	}
	fmt.Fprintf(&b, `  }
  signature_def {
    key: "serving_default"
    value {
      inputs { key: "input_1" value { name: "input_1:0" dtype: DT_FLOAT tensor_shape { dim { size: -1 } dim { size: 16 } dim { size: 16 } dim { size: 3 } } } }
      outputs { key: "output" value { name: %q dtype: DT_FLOAT tensor_shape { %s } } }
      method_name: "tensorflow/serving/predict"
    }
  }
}
`, out, outShape)
	dir := filepath.Join(t.TempDir(), "tf1_nested")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "saved_model.pbtxt"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}
