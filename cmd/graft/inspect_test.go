package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
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
		{"tf1 variables", testmodules.TFModel(t, "python/compiler/tensorrt/test/testdata/tf_variablev2_saved_model"), "add:0", "add", []string{"VariableV2"}},
		{"tf1 nested keras", testmodules.KerasTF1Nested(t, true), "sequential_1/mobilenetv2_1.00_224/out_relu/Relu6:0", "out_relu", []string{"Const"}},
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

// graft inspect suggests the last feature maps before pooling, by the name
// --tap takes, and a head trains on the first suggestion: on a TF2 Keras
// model and on a TF1 graph of a Keras model nested in a Sequential, where
// the layer column once said sequential_1 for every op.
func TestInspectSuggestsTaps(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 3)
	for _, c := range []struct {
		name, model string
		want        string // the suggestions' names and shapes
	}{
		{"keras 2", fashionCNN, "conv2d_2 [-1 7 7 64], conv2d_1 [-1 14 14 32], conv2d [-1 28 28 16]"},
		{"tf1 nested keras", testmodules.KerasTF1Nested(t, true), "out_relu [-1 4 4 32], Conv1_relu [-1 8 8 8]"},
		{"tf1 frozen", testmodules.TFModel(t, "python/compiler/tensorrt/model_tests/sample_model"), "conv2d_1 [-1 22 22 8], conv2d [-1 24 24 16]"},
	} {
		out, code := run(t, "inspect", c.model, "--json")
		var r struct {
			Taps []struct {
				Name  string
				Shape []int
			} `json:"suggested_taps"`
			Tensors []any
		}
		if code != 0 || json.Unmarshal([]byte(out), &r) != nil {
			t.Fatalf("%s: exit %d: %s", c.name, code, out)
		}
		var got []string
		for _, tap := range r.Taps {
			got = append(got, fmt.Sprintf("%s %v", tap.Name, tap.Shape))
		}
		if strings.Join(got, ", ") != c.want || len(r.Tensors) != 0 {
			t.Errorf("%s: suggested %s (and %d tensors), want %s", c.name, strings.Join(got, ", "), len(r.Tensors), c.want)
		}
		text, _ := run(t, "inspect", c.model)
		first := strings.SplitN(c.want, " ", 2)[0]
		if !regexp.MustCompile(`suggested taps.*\n  ` + regexp.QuoteMeta(first) + ` +\[\? `).MatchString(text) {
			t.Errorf("%s: the text does not suggest %s first:\n%s", c.name, first, text)
		}
		// The suggestion is a tap graft train takes.
		if _, stderr, code := runAll(t, "train", "--backbone", c.model, "--tap", first, "--data", data, "--preprocess", "unit", "--head", "conv:4",
			"--epochs", "1", "--cache-dir", "none", "--out", filepath.Join(t.TempDir(), "run")); code != 0 {
			t.Errorf("%s: train --tap %s: exit %d\n%s", c.name, first, code, stderr)
		}
	}
}
