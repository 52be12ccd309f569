package main

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

const fashionCNN = "../../testdata/models/fashion_cnn"

// pixelBaseline trains logistic regression on raw pixels (a linear head
// on 1x1x784 "features": GAP over one pixel is the identity), generously
// (30 epochs, the better of two rates), and returns its accuracy on test.
func pixelBaseline(t *testing.T, train, test string) float64 {
	t.Helper()
	load := func(dir string, classes []string) ([]float32, []int32, []string) {
		ds, err := dataset.Open(dir, dataset.Options{Classes: classes})
		if err != nil {
			t.Fatal(err)
		}
		d, err := dataset.Decode(context.Background(), ds, 28, 28, 1, "unit", dataset.Fail, 0)
		if err != nil {
			t.Fatal(err)
		}
		labels := make([]int32, d.Len())
		for i, l := range d.Labels {
			labels[i] = int32(l)
		}
		return d.Images, labels, ds.Classes
	}
	xtr, ytr, classes := load(train, nil)
	xte, yte, _ := load(test, classes)
	spec := head.Spec{Height: 1, Width: 1, Channels: 784, Kind: head.KindLinear, Classes: 10}
	best := 0.0
	for _, lr := range []float32{1e-3, 1e-2} {
		ops := head.NewCPUOps()
		opt, _ := head.NewOptimizer(head.Adam)
		opt.LR = lr
		m, err := head.New(ops, spec, opt, 1)
		if err != nil {
			t.Fatal(err)
		}
		tr, _ := head.UploadFeatures(ops, spec, xtr)
		te, _ := head.UploadFeatures(ops, spec, xte)
		for e := 0; e < 30; e++ {
			if _, err := m.Epoch(head.Resident{Buf: tr}, ytr, 32, nil); err != nil {
				t.Fatal(err)
			}
		}
		ev, err := m.Evaluate(head.Resident{Buf: te}, yte, 256)
		if err != nil {
			t.Fatal(err)
		}
		best = max(best, float64(ev.Correct)/float64(ev.Count))
	}
	return best
}

// TestFineTuneDigitsOnFashionBackbone is the main job through the CLI:
// a head trained on MNIST digits on top of a backbone pretrained on
// Fashion-MNIST (testdata/models/fashion_cnn), evaluated on unseen test
// digits, against logistic regression on the same raw pixels.
func TestFineTuneDigitsOnFashionBackbone(t *testing.T) {
	train := testmodules.Digits(t, "train", 0, 300)
	test := testmodules.Digits(t, "t10k", 0, 100)
	runDir := filepath.Join(t.TempDir(), "run")
	out, code := run(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", train, "--val-split", "0.1",
		"--epochs", "8", "--preprocess", "unit", "--seed", "1", "--cache-dir", t.TempDir(), "--out", runDir)
	if code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	out, code = run(t, "eval", "--run", runDir, "--data", test, "--format", "json")
	if code != 0 {
		t.Fatalf("eval: exit %d\n%s", code, out)
	}
	var rep struct {
		Accuracy  float64
		Confusion [][]int
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	// graft's own linear probe on raw pixels: the head reads the input
	// tensor itself (GAP over the pixels, then Dense).
	probe := filepath.Join(t.TempDir(), "probe")
	out, code = run(t, "train", "--backbone", fashionCNN, "--tap", "serving_default_conv2d_input:0", "--head", "linear", "--data", train,
		"--val-split", "0.1", "--epochs", "8", "--preprocess", "unit", "--seed", "1", "--cache-dir", "none", "--out", probe)
	if code != 0 {
		t.Fatalf("probe: exit %d\n%s", code, out)
	}
	out, _ = run(t, "eval", "--run", probe, "--data", test, "--format", "json")
	var probeRep struct{ Accuracy float64 }
	json.Unmarshal([]byte(out), &probeRep)

	baseline := pixelBaseline(t, train, test)
	t.Logf("test accuracy: graft conv head on fashion_cnn conv2d_2 %.3f; graft linear probe on raw pixels %.3f; logistic regression on flattened pixels %.3f",
		rep.Accuracy, probeRep.Accuracy, baseline)
	if rep.Accuracy < 0.92 {
		t.Errorf("test accuracy %.3f, want >= 0.92", rep.Accuracy)
	}
	if rep.Accuracy < probeRep.Accuracy+0.5 {
		t.Errorf("test accuracy %.3f is not well above the linear probe on raw pixels (%.3f)", rep.Accuracy, probeRep.Accuracy)
	}
	if rep.Accuracy < baseline+0.03 {
		t.Errorf("test accuracy %.3f is not above logistic regression on the flattened pixels (%.3f) by 3 points", rep.Accuracy, baseline)
	}

	// predict --run names the classes and agrees with the labels.
	paths, _ := filepath.Glob(filepath.Join(test, "7", "*.png"))
	out, code = run(t, append([]string{"predict", "--run", runDir, "--format", "jsonl", "--top", "1"}, paths[:20]...)...)
	if code != 0 {
		t.Fatalf("predict: exit %d\n%s", code, out)
	}
	sevens := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var line struct{ Top []struct{ Label string } }
		json.Unmarshal(sc.Bytes(), &line)
		if len(line.Top) == 1 && line.Top[0].Label == "7" {
			sevens++
		}
	}
	if sevens < 17 {
		t.Errorf("predict --run called %d of 20 sevens a 7:\n%s", sevens, out)
	}
}
