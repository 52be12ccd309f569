package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// predict --model without --preprocess on a model with a Keras Rescaling
// layer feeds raw pixels (the same scores as --preprocess raw, not those
// of unit) and says why; inspect shows the detected normalisation.
func TestPredictAndInspectFollowTheGraphsNormalisation(t *testing.T) {
	w := func(shape ...int) *tensor.Tensor {
		x := tensor.New(tensor.Float32, shape...)
		for i := range x.F32 {
			x.F32[i] = float32(i%5)*0.3 - 0.5
		}
		return x
	}
	spec, err := savedmodel.NewSequential("sequential", "input_1", -1, 28, 28, 1).
		Rescaling("rescaling", 1.0/255, 0).
		Conv2D("conv2d", w(3, 3, 1, 4), w(4), 2, "SAME", "relu").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", w(4, 3), w(3), "softmax").Spec()
	if err != nil {
		t.Fatal(err)
	}
	model := filepath.Join(t.TempDir(), "model")
	if err := savedmodel.Write(model, spec); err != nil {
		t.Fatal(err)
	}
	paths, _ := writeDigits(t, 3)
	predict := func(extra ...string) (string, string) {
		out, logs, code := runStderr(t, append(append([]string{"predict", "--model", model, "--format", "jsonl", "--log-format", "json"}, extra...), paths...)...)
		if code != 0 {
			t.Fatalf("predict %v: exit %d\n%s%s", extra, code, out, logs)
		}
		return out, logs
	}
	auto, logs := predict()
	rawOut, _ := predict("--preprocess", "raw")
	unitOut, _ := predict("--preprocess", "unit")
	if auto != rawOut || auto == unitOut {
		t.Errorf("default scores:\n%s\nraw:\n%s\nunit:\n%s", auto, rawOut, unitOut)
	}
	if !strings.Contains(logs, `"msg":"preprocessing raw"`) || !strings.Contains(logs, "sequential/rescaling/mul") {
		t.Errorf("predict did not say which mode and why:\n%s", logs)
	}
	out, code := run(t, "inspect", model)
	if code != 0 || !strings.Contains(out, "input normalisation:  x*0.003922+0 (") || !strings.Contains(out, "sequential/rescaling/add): expects raw pixels 0..255") {
		t.Errorf("inspect: exit %d\n%s", code, out)
	}
}
