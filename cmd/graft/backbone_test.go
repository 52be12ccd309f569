package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/idx"
)

const fixture = "../../testdata/models/mnist_cnn"

func TestInspectFixture(t *testing.T) {
	out, code := run(t, "inspect", fixture, "--tensors", "--json")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	var r struct {
		Signatures []struct {
			Key    string
			Inputs []struct{ Shape []int }
		}
		Unsupported []string `json:"unsupported_ops"`
		Variables   int
		Tensors     []struct {
			Name  string
			Shape []int
		}
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Signatures) != 1 || r.Signatures[0].Key != "serving_default" || !slices.Equal(r.Signatures[0].Inputs[0].Shape, []int{-1, 28, 28, 1}) {
		t.Errorf("signatures %+v", r.Signatures)
	}
	if len(r.Unsupported) != 0 || r.Variables != 8 {
		t.Errorf("unsupported %v, variables %d", r.Unsupported, r.Variables)
	}
	found := false
	for _, tn := range r.Tensors {
		if strings.HasSuffix(tn.Name, "conv2d_2/Relu:0") {
			found = slices.Equal(tn.Shape, []int{-1, 7, 7, 64})
		}
	}
	if !found {
		t.Errorf("conv2d_2/Relu:0 with shape [-1 7 7 64] not listed")
	}
}

// TestInspectTensorFlowModels runs inspect on every TensorFlow-written
// model the issue names.
func TestInspectTensorFlowModels(t *testing.T) {
	for _, rel := range []string{
		"cc/saved_model/testdata/half_plus_two/00000123",
		"cc/saved_model/testdata/half_plus_two_v2/00000123",
		"cc/saved_model/testdata/x_plus_y_v2_debuginfo",
		"cc/saved_model/testdata/VarsAndArithmeticObjectGraph",
		"python/compiler/tensorrt/test/testdata/tf_readvariableop_saved_model",
		"python/compiler/tensorrt/test/testdata/tf_variablev2_saved_model",
		"python/compiler/tensorrt/model_tests/sample_model",
	} {
		out, code := run(t, "inspect", testmodules.TFModel(t, rel), "--tensors")
		if code != 0 || !strings.Contains(out, "signatures:") {
			t.Errorf("%s: exit %d: %s", rel, code, out)
		}
	}
}

// writeDigits writes MNIST test images as PNG files and returns the paths
// with their labels.
func writeDigits(t *testing.T, n int) ([]string, []int) {
	t.Helper()
	dir := testmodules.MNIST(t)
	set, err := idx.Load(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	var paths []string
	var labels []int
	for i := 0; i < n; i++ {
		img := image.NewGray(image.Rect(0, 0, set.W, set.H))
		copy(img.Pix, set.Image(i))
		p := filepath.Join(tmp, fmt.Sprintf("%d.png", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
		paths, labels = append(paths, p), append(labels, int(set.Labels[i]))
	}
	return paths, labels
}

func TestPredictJSONL(t *testing.T) {
	paths, labels := writeDigits(t, 40)
	out, code := run(t, append([]string{"predict", "--model", fixture, "--format", "jsonl", "--top", "3"}, paths...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, out)
	}
	sc := bufio.NewScanner(strings.NewReader(out))
	correct, lines := 0, 0
	for sc.Scan() {
		var line struct {
			Input, Output string
			Top           []struct {
				Index int
				Score float64
			}
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		if line.Input != paths[lines] || len(line.Top) != 3 || line.Top[0].Score < line.Top[1].Score {
			t.Errorf("line %d: %+v", lines, line)
		}
		if line.Top[0].Index == labels[lines] {
			correct++
		}
		lines++
	}
	if lines != len(paths) || correct < 34 {
		t.Errorf("%d lines, %d of %d top-1 correct", lines, correct, len(paths))
	}
}

func TestPredictBadInput(t *testing.T) {
	paths, _ := writeDigits(t, 1)
	broken := filepath.Join(t.TempDir(), "broken.png")
	os.WriteFile(broken, []byte("\x89PNG not really"), 0o644)
	out, code := run(t, "predict", "--model", fixture, "--format", "jsonl", paths[0], broken)
	if code == 0 || !strings.Contains(out, `"error"`) || strings.Count(out, "\n") != 2 {
		t.Errorf("broken image: exit %d, output %s", code, out)
	}
	for _, args := range [][]string{
		{"predict", "--model", fixture, "--tap", "conv2d_9", paths[0]},
		{"predict", "--model", filepath.Join(t.TempDir(), "nothing"), paths[0]},
		{"predict", "--model", fixture, "--preprocess", "imagenet", paths[0]},
		{"predict", paths[0]},
	} {
		if _, code := run(t, args...); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
