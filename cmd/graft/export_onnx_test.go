package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/export"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/testkit/zoo"
)

// graft export --format onnx, checked by the ONNX project's own checker and
// by onnxruntime (make test-export, build/exportenv) against graft predict
// --run on the same PNG files.

func exportPython(t *testing.T) string {
	t.Helper()
	p := os.Getenv("GRAFT_EXPORT_PYTHON")
	if p == "" {
		p, _ = filepath.Abs("../../build/exportenv/bin/python")
	}
	if _, err := os.Stat(p); err != nil {
		t.Skipf("no export oracles at %s: run make exportenv (or set GRAFT_EXPORT_PYTHON)", p)
	}
	return p
}

// onnxRun is what scripts/export/onnx_check.py reports.
type onnxRun struct {
	Opset         [][2]any          `json:"opset"`
	Outputs       []string          `json:"outputs"`
	Ops           map[string]int    `json:"ops"`
	Metadata      map[string]string `json:"metadata"`
	Probabilities [][]float64       `json:"probabilities"`
	Classes       []int             `json:"classes"`
	Singles       [][]float64       `json:"single_probabilities"`
}

func onnxCheck(t *testing.T, py, model string, images []string) onnxRun {
	t.Helper()
	out, err := exec.Command(py, append([]string{"../../scripts/export/onnx_check.py", model}, images...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("onnx_check %s: %v\n%s", model, err, msg)
	}
	var r onnxRun
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("onnx_check output: %v\n%s", err, out)
	}
	return r
}

// onnxCase is one trained run to export.
type onnxCase struct {
	name, backbone, tap, preprocess, head string
	data                                  string   // training images
	images                                []string // PNGs at the model's input size
	tol                                   float64  // relative to the largest probability
}

// checkONNX trains c, exports it with a dynamic and a static batch and
// compares onnxruntime with graft predict --run.
func checkONNX(t *testing.T, py string, c onnxCase) map[string]int {
	t.Helper()
	dir := t.TempDir()
	runDir := filepath.Join(dir, "run")
	out, stderr, code := runAll(t, "train", "--backbone", c.backbone, "--tap", c.tap, "--data", c.data, "--preprocess", c.preprocess,
		"--head", c.head, "--epochs", "1", "--batch-size", "8", "--cache-dir", "none", "--log-level", "error", "--out", runDir)
	if code != 0 {
		t.Fatalf("train: exit %d: %s %s", code, out, stderr)
	}
	classesJSON, err := os.ReadFile(filepath.Join(runDir, "classes.json"))
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	if err := json.Unmarshal(classesJSON, &classes); err != nil {
		t.Fatal(err)
	}
	want, wantTop := scores(t, len(classes), append([]string{"--run", runDir}, c.images...)...)
	var ops map[string]int
	for _, static := range []int{0, len(c.images) + 1} {
		model := filepath.Join(dir, fmt.Sprintf("model-%d.onnx", static))
		if out, stderr, code := runAll(t, "export", "--run", runDir, "--out", model, "--format", "onnx", "--onnx-static-batch", fmt.Sprint(static)); code != 0 {
			t.Fatalf("export --onnx-static-batch %d: exit %d: %s %s", static, code, out, stderr)
		}
		r := onnxCheck(t, py, model, c.images)
		if len(r.Opset) != 1 || r.Opset[0][0] != "" || r.Opset[0][1] != 17.0 {
			t.Errorf("opset %v, want ai.onnx 17", r.Opset)
		}
		if !slices.Equal(r.Outputs, []string{export.OutProbs, export.OutClasses}) {
			t.Errorf("outputs %v", r.Outputs)
		}
		if r.Metadata[export.MetaClasses] != strings.TrimSpace(string(classesJSON)) && !jsonEqual(r.Metadata[export.MetaClasses], classes) {
			t.Errorf("metadata classes %q, want %q", r.Metadata[export.MetaClasses], classesJSON)
		}
		if r.Metadata[export.MetaTap] != c.tap || r.Metadata[export.MetaPreprocess] != c.preprocess || r.Metadata[export.MetaRun] != "run" {
			t.Errorf("metadata %v", r.Metadata)
		}
		runs := map[string][][]float64{"batch": r.Probabilities}
		if static == 0 {
			runs["single"] = r.Singles
		}
		for how, got := range runs {
			worst := 0.0
			for i := range want {
				scale := slices.Max(want[i])
				for k := range want[i] {
					worst = max(worst, math.Abs(got[i][k]-want[i][k])/scale)
				}
				if argmax(got[i]) != argmax(want[i]) || (how == "batch" && classes[r.Classes[i]] != wantTop[i]) {
					t.Errorf("static %d, %s, image %d: onnxruntime top-1 %d, graft %s", static, how, i, argmax(got[i]), wantTop[i])
				}
			}
			t.Logf("%s: static batch %d, %s: max |onnxruntime - graft| / max = %.3g; %d nodes, %d Transpose", c.name, static, how, worst, total(r.Ops), r.Ops["Transpose"])
			if worst > c.tol {
				t.Errorf("%s static %d %s: max relative difference %.3g > %g", c.name, static, how, worst, c.tol)
			}
		}
		// NCHW from the input on: the input's Transpose is the only one
		// (docs/export.md; ConvNeXt's Tensordots become 1x1 Convs).
		if r.Ops["Transpose"] != 1 {
			t.Errorf("%s: %d Transpose nodes, want only the input's", c.name, r.Ops["Transpose"])
		}
		ops = r.Ops
	}
	return ops
}

func jsonEqual(s string, v []string) bool {
	var got []string
	return json.Unmarshal([]byte(s), &got) == nil && slices.Equal(got, v)
}

func total(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestExportONNXFixtures: the repository's two Keras fixtures, a conv head
// with unit preprocessing and a linear probe with tf.
func TestExportONNXFixtures(t *testing.T) {
	py := exportPython(t)
	data := testmodules.Digits(t, "train", 0, 3)
	pngs, _ := filepath.Glob(filepath.Join(testmodules.Digits(t, "t10k", 0, 1), "*", "*.png"))
	for _, c := range []onnxCase{
		{name: "fashion_cnn", backbone: fashionCNN, tap: "conv2d_2", preprocess: "unit", head: "conv:8"},
		{name: "mnist_cnn", backbone: "../../testdata/models/mnist_cnn", tap: "conv2d_1", preprocess: "tf", head: "linear"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.data, c.images, c.tol = data, pngs, zoo.Tol
			checkONNX(t, py, c)
		})
	}
}

// TestExportONNXZoo: every architecture of the zoo on one writer (keras3),
// and all four writers on MobileNetV2 and ResNet50, a small conv head on
// the zoo's last NHWC tap. GRAFT_EXPORT_ZOO=all runs all 48.
func TestExportONNXZoo(t *testing.T) {
	py := exportPython(t)
	cases, err := zoo.Cases(zoo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	data := testmodules.Digits(t, "train", 0, 2)
	all := os.Getenv("GRAFT_EXPORT_ZOO") == "all"
	for _, zc := range cases {
		if !all && zc.Format != "keras3" && zc.Model != "MobileNetV2" && zc.Model != "ResNet50" {
			continue
		}
		t.Run(zc.Name(), func(t *testing.T) {
			tol, _ := zoo.Tolerance(zc.Model, "")
			c := onnxCase{name: zc.Name(), backbone: zc.SavedModel, tap: zc.Outputs[len(zc.Outputs)-1].Tap, preprocess: zc.Preprocess,
				head: "conv:8", data: data, images: zc.Images, tol: tol}
			checkONNX(t, py, c)
		})
	}
}

// TestPredictRefusesONNX: graft predict --model on an ONNX file says that
// graft does not run ONNX and what does.
func TestPredictRefusesONNX(t *testing.T) {
	model := filepath.Join(t.TempDir(), "model.onnx")
	os.WriteFile(model, []byte{0x08, 0x08}, 0o644)
	_, stderr, code := runAll(t, "predict", "--model", model, "image.png")
	if code == 0 || !strings.Contains(stderr, "not ONNX") || !strings.Contains(stderr, "onnxruntime") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
