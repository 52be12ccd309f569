package main

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/graft-ml/graft/internal/testmodules"
)

// inspect --tensors lists what a head can tap, each with its Keras layer;
// --all lists everything, weights and shape arithmetic included.
func TestInspectTappableTensors(t *testing.T) {
	for _, c := range []struct {
		name, model string
		// tap is a tensor that must be listed by default, with its layer.
		tap, layer string
		// hidden are ops listed only with --all (weights, their reads).
		hidden []string
	}{
		{"keras", fashionCNN, "StatefulPartitionedCall/StatefulPartitionedCall/sequential/conv2d_2/Relu:0", "conv2d_2", []string{"ReadVariableOp", "Const"}},
		{"tf1 frozen", testmodules.TFModel(t, "python/compiler/tensorrt/model_tests/sample_model"), "conv2d_1/Relu:0", "conv2d_1", []string{"Const"}},
		{"tf1 variables", testmodules.TFModel(t, "python/compiler/tensorrt/test/testdata/tf_variablev2_saved_model"), "add:0", "", []string{"VariableV2"}},
	} {
		list := func(extra ...string) map[string][]string { // op -> tensors
			out, code := run(t, append([]string{"inspect", c.model, "--tensors", "--json"}, extra...)...)
			var r struct {
				Tensors []struct{ Name, Op, Layer string }
			}
			if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
				t.Fatalf("%s: exit %d: %s", c.name, code, out)
			}
			ops := map[string][]string{}
			for _, tn := range r.Tensors {
				ops[tn.Op] = append(ops[tn.Op], tn.Name)
				if tn.Name == c.tap && tn.Layer != c.layer {
					t.Errorf("%s: %s is in layer %q, want %q", c.name, tn.Name, tn.Layer, c.layer)
				}
			}
			return ops
		}
		def, all := list(), list("--all")
		for _, op := range c.hidden {
			if len(def[op]) > 0 {
				t.Errorf("%s: listed by default: %s %v", c.name, op, def[op])
			}
			if len(all[op]) == 0 {
				t.Errorf("%s: --all lists no %s", c.name, op)
			}
		}
		found := false
		for _, names := range def {
			found = found || slices.Contains(names, c.tap)
		}
		if !found {
			t.Errorf("%s: %s not listed by default: %v", c.name, c.tap, def)
		}
	}
}
