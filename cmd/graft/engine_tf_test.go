//go:build tensorflow

package main

import (
	"bufio"
	"encoding/json"
	"math"
	"path/filepath"
	"strings"
	"testing"
)

// The CLI on the TensorFlow engine (make test-tf).

type predLine struct {
	Input string
	Top   []struct {
		Index int
		Score float64
	}
}

func predictLines(t *testing.T, args ...string) []predLine {
	t.Helper()
	out, code := run(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d: %s", args[:6], code, out)
	}
	var lines []predLine
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var l predLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// TestPredictEnginesAgree: native and TensorFlow give the same top-1 on
// every image with both fixtures, and the same scores to float32 rounding.
func TestPredictEnginesAgree(t *testing.T) {
	paths, _ := writeDigits(t, 60)
	models, _ := filepath.Glob("../../testdata/models/*")
	if len(models) < 2 {
		t.Fatalf("fixtures: %v", models)
	}
	for _, m := range models {
		base := []string{"predict", "--model", m, "--format", "jsonl", "--top", "3"}
		nat := predictLines(t, append(append(base, "--engine", "native"), paths...)...)
		tfl := predictLines(t, append(append(base, "--engine", "tensorflow", "--device", "cpu"), paths...)...)
		if len(nat) != len(paths) || len(tfl) != len(paths) {
			t.Fatalf("%s: %d and %d lines for %d images", m, len(nat), len(tfl), len(paths))
		}
		for i := range nat {
			n, f := nat[i].Top[0], tfl[i].Top[0]
			if n.Index != f.Index || math.Abs(n.Score-f.Score) > 1e-4 {
				t.Errorf("%s %s: native top-1 %+v, tensorflow %+v", filepath.Base(m), paths[i], n, f)
			}
		}
	}
}

func TestTensorFlowEngineCommands(t *testing.T) {
	paths, _ := writeDigits(t, 1)
	out, code := run(t, "inspect", fixture, "--engine", "tensorflow")
	if code != 0 || !strings.Contains(out, "tensorflow engine: TensorFlow 2.") {
		t.Errorf("inspect --engine tensorflow: exit %d\n%s", code, out)
	}
	out, code = run(t, "bench", "backbone", fixture, "--engine", "native,tensorflow", "--threads", "1", "--batch", "2", "--min-time", "1ms", "--json")
	var runs []struct {
		Engine       string
		Threads      int
		ImagesPerSec float64 `json:"images_per_s"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &runs) != nil || len(runs) != 2 || runs[1].Engine != "tensorflow" || runs[1].ImagesPerSec <= 0 || runs[1].Threads != 1 {
		t.Errorf("bench backbone native,tensorflow: exit %d, %+v\n%s", code, runs, out)
	}
	out, code = run(t, "version")
	if code != 0 || !strings.Contains(out, "tensorflow: 2.") {
		t.Errorf("version: exit %d\n%s", code, out)
	}
	// Clear errors, never a crash: a device that does not exist, a model
	// TensorFlow cannot run.
	for _, args := range [][]string{
		{"predict", "--model", fixture, "--engine", "tensorflow", "--device", "cuda:7", paths[0]},
		{"predict", "--model", fixture, "--engine", "tensorflow", "--tap", "conv2d_9", paths[0]},
		{"inspect", filepath.Join(t.TempDir(), "nothing"), "--engine", "tensorflow"},
	} {
		if _, code := run(t, args...); code == 0 {
			t.Errorf("%v: exit 0", args)
		}
	}
}
