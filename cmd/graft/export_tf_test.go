//go:build tensorflow

package main

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// graft export, checked against TensorFlow itself (make test-tf): Python
// TensorFlow loads the export and serves real image files.

// tfServed is what scripts/python/export_check.py reports.
type tfServed struct {
	Signatures    []string    `json:"signatures"`
	CLISignatures []string    `json:"cli_signatures"`
	Probabilities [][]float64 `json:"probabilities"`
	Classes       []string    `json:"classes"`
	BytesProbs    [][]float64 `json:"bytes_probabilities"`
	BytesClasses  []string    `json:"bytes_classes"`
}

func TestExportServedByTensorFlow(t *testing.T) {
	py := testmodules.PythonTF(t)
	made := t.TempDir()
	keras, tf1 := filepath.Join(made, "keras"), filepath.Join(made, "tf1")
	if out, err := exec.Command(py, "../../scripts/python/export_backbones.py", keras, tf1).CombinedOutput(); err != nil {
		t.Fatalf("export_backbones.py: %v\n%s", err, out)
	}
	train := testmodules.Digits(t, "train", 0, 12)
	test := testmodules.Digits(t, "t10k", 0, 10) // 100 unseen digits
	files, _ := filepath.Glob(filepath.Join(test, "*", "*.png"))
	// Real photographs of other sizes (128x224 to 606x517 JPEGs from
	// TensorFlow's sources), for serving_bytes: decoding and resizing
	// inside the graph against graft's own.
	tfsrc := testmodules.Dir(t, testmodules.TensorFlow)
	photos, _ := filepath.Glob(filepath.Join(tfsrc, "tensorflow/lite/experimental/acceleration/mini_benchmark/data/*.jpeg"))
	photos = append(photos, filepath.Join(tfsrc, "tensorflow/go/testdata/label_image/grace_hopper.jpg"))
	cases := []struct {
		name, backbone, tap, head, preprocess string
	}{
		{"fashion_cnn conv unit", fashionCNN, "conv2d_2", "conv:16", "unit"},
		{"mnist_cnn linear tf", "../../testdata/models/mnist_cnn", "conv2d_1", "linear", "tf"},
		{"tf_keras conv caffe", keras, "conv_b", "conv:8", "caffe"},
		{"tf1 graph linear torch", tf1, "conv2/relu", "linear", "torch"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			runDir, exp := filepath.Join(dir, "run"), filepath.Join(dir, "export")
			if out, code := run(t, "train", "--backbone", c.backbone, "--tap", c.tap, "--head", c.head, "--preprocess", c.preprocess,
				"--data", train, "--epochs", "2", "--seed", "3", "--cache-dir", "none", "--out", runDir); code != 0 {
				t.Fatalf("train: exit %d\n%s", code, out)
			}
			if out, code := run(t, "export", "--run", runDir, "--out", exp); code != 0 {
				t.Fatalf("export: exit %d\n%s", code, out)
			}
			want, wantTop := scores(t, 10, append([]string{"--run", runDir}, files...)...)
			wantPhotos, wantPhotosTop := scores(t, 10, append([]string{"--run", runDir}, photos...)...)

			res := filepath.Join(dir, "tf.json")
			cmd := exec.Command(py, append(append(append([]string{"../../scripts/python/export_check.py", exp, res}, files...), "--bytes-only"), photos...)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("export_check.py: %v\n%s", err, out)
			}
			var got tfServed
			b, err := os.ReadFile(res)
			if err == nil {
				err = json.Unmarshal(b, &got)
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.Signatures, " ") != "serving_bytes serving_default" {
				t.Errorf("tf.saved_model.load signatures %v", got.Signatures)
			}
			cli := strings.Join(got.CLISignatures, " ")
			if !strings.Contains(cli, "serving_default") || !strings.Contains(cli, "serving_bytes") {
				t.Errorf("saved_model_cli show --all lists %v", got.CLISignatures)
			}
			if len(got.Probabilities) != len(files) || len(got.BytesProbs) != len(files)+len(photos) {
				t.Fatalf("TensorFlow answered %d and %d of %d images", len(got.Probabilities), len(got.BytesProbs), len(files))
			}
			var worst, worstBytes float64
			agree := 0
			for i := range files {
				for k, p := range want[i] {
					worst = max(worst, math.Abs(got.Probabilities[i][k]-p))
					worstBytes = max(worstBytes, math.Abs(got.BytesProbs[i][k]-p))
				}
				if got.Classes[i] != wantTop[i] || argmax(got.Probabilities[i]) != argmax(want[i]) {
					t.Errorf("%s: TensorFlow top-1 %q, graft predict --run %q", files[i], got.Classes[i], wantTop[i])
				}
				if got.BytesClasses[i] == wantTop[i] {
					agree++
				}
			}
			if worst > 1e-5 {
				t.Errorf("serving_default probabilities differ from graft predict --run by up to %g (limit 1e-5)", worst)
			}
			if agree*100 < 99*len(files) {
				t.Errorf("serving_bytes top-1 agrees on %d of %d images (want >= 99%%)", agree, len(files))
			}
			t.Logf("%d images: serving_default max |diff| %.2g; serving_bytes top-1 %d/%d, max |diff| %.2g", len(files), worst, agree, len(files), worstBytes)
			var worstPhoto float64
			agreePhotos := 0
			for i := range photos {
				for k, p := range wantPhotos[i] {
					worstPhoto = max(worstPhoto, math.Abs(got.BytesProbs[len(files)+i][k]-p))
				}
				if got.BytesClasses[len(files)+i] == wantPhotosTop[i] {
					agreePhotos++
				}
			}
			t.Logf("%d photos %s: serving_bytes top-1 %d/%d, max |diff| %.2g", len(photos), "(decoded and resized by TensorFlow vs graft)", agreePhotos, len(photos), worstPhoto)
			// graft decodes JPEG as tf.io.decode_jpeg does (package
			// tfjpeg): the photos agree as the PNG digits do.
			if worstPhoto > 1e-5 || agreePhotos != len(photos) {
				t.Errorf("serving_bytes on the JPEG photos: top-1 %d/%d, max |diff| %g from graft predict --run (limits: all, 1e-5)", agreePhotos, len(photos), worstPhoto)
			}

			mod, modTop := scores(t, 10, append([]string{"--model", exp}, files...)...)
			for i := range files {
				for k := range mod[i] {
					if math.Abs(mod[i][k]-want[i][k]) > 1e-5 || modTop[i] != wantTop[i] {
						t.Fatalf("%s: predict --model %v (%s), --run %v (%s)", files[i], mod[i], modTop[i], want[i], wantTop[i])
					}
				}
			}
		})
	}
}
