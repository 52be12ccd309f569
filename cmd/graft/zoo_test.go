package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/zoo"
)

// zooTop1 runs `graft predict --model` on every zoo case's PNG inputs with
// the given engine and checks its top-1 classes against TensorFlow's
// stored output (where TensorFlow's margin allows a verdict). It returns
// the classes per case, for comparisons between engines.
func zooTop1(t *testing.T, engine string) map[string][]int {
	cases, err := zoo.Cases(zoo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	compared := 0
	for _, c := range cases {
		if len(c.Images) == 0 {
			t.Errorf("%s: the manifest lists no images: run `make zoo` again", c.Name())
			continue
		}
		args := append([]string{"predict", "--model", c.SavedModel, "--engine", engine, "--preprocess", c.Preprocess,
			"--top", "1", "--format", "jsonl", "--log-format", "json"}, c.Images...)
		out, code := run(t, args...)
		if code != 0 {
			t.Errorf("%s: graft %s: exit %d", c.Name(), strings.Join(args, " "), code)
			continue
		}
		var classes []int
		for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
			var r struct {
				Top []struct{ Index int }
			}
			if err := json.Unmarshal([]byte(line), &r); err != nil || len(r.Top) != 1 {
				t.Fatalf("%s: line %q: %v", c.Name(), line, err)
			}
			classes = append(classes, r.Top[0].Index)
		}
		tol, _ := zoo.Tolerance(c.Model, "native")
		want := zoo.Top1(c.Outputs[0].Want, tol)
		if len(classes) != len(want) {
			t.Errorf("%s: %d predictions for %d images", c.Name(), len(classes), len(want))
			continue
		}
		for i, w := range want {
			if w >= 0 {
				compared++
			}
			if w >= 0 && classes[i] != w {
				t.Errorf("%s: image %d: graft predict --engine %s says class %d, TensorFlow %d", c.Name(), i, engine, classes[i], w)
			}
		}
		got[c.Name()] = classes
	}
	t.Logf("%d images with a clear TensorFlow top-1 compared", compared)
	if compared == 0 {
		t.Error("no zoo image has a clear TensorFlow top-1: the check compared nothing")
	}
	return got
}

func TestZooPredictNative(t *testing.T) { zooTop1(t, "native") }

// TestZooInspectData: `graft inspect MODEL --data DIR` reads the
// backbone's batch-norm statistics with the photos in DIR and names the
// mode the zoo calibrated the model with (caffe for ResNet50, torch for
// DenseNet121), with the distance of every mode.
func TestZooInspectData(t *testing.T) {
	cases, err := zoo.Cases(zoo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases {
		if c.Name() != "ResNet50/tf1" && c.Name() != "DenseNet121/keras3" {
			continue
		}
		data := t.TempDir()
		for i, p := range c.Probes {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(data, []string{"a", "b"}[i%2])
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(p)), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		out, code := run(t, "inspect", c.SavedModel, "--data", data, "--json")
		if code != 0 {
			t.Fatalf("%s: graft inspect --data: exit %d: %s", c.Name(), code, out)
		}
		var r struct {
			Auto  struct{ Mode string } `json:"preprocess_auto"`
			Stats struct {
				Images    int
				Distances map[string]float64
			} `json:"preprocess_stats"`
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v: %s", c.Name(), err, out)
		}
		if r.Auto.Mode != c.Preprocess || r.Stats.Images != len(c.Probes) || len(r.Stats.Distances) != 5 {
			t.Errorf("%s: graft inspect --data: auto %q, stats %+v; want %s from %d images", c.Name(), r.Auto.Mode, r.Stats, c.Preprocess, len(c.Probes))
		}
	}
}
