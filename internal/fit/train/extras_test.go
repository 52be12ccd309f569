package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// imbalancedDigits is Digits with class 0 cut to keep of its samples.
func imbalancedDigits(t *testing.T, perClass, keep int) string {
	data := testmodules.Digits(t, "train", 0, perClass)
	files, _ := filepath.Glob(filepath.Join(data, "0", "*.png"))
	for _, f := range files[keep:] {
		if err := os.Remove(f); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// TestBalancedClassWeightsRecordedAndResumed checks that config.json
// records n/(classes*count) computed from split.json's training side (the
// class is each ID's folder), and that a run with dropout and class
// weights, interrupted and resumed, ends with the parameters of an
// uninterrupted one (the masks depend on seed and step only), and differs
// from a run without them (they take effect).
func TestBalancedClassWeightsRecordedAndResumed(t *testing.T) {
	data := imbalancedDigits(t, 8, 3)
	ctx := context.Background()
	conf := func(epochs int) Config {
		c := smallConfig(t, data, epochs)
		c.Dropout, c.ClassWeight = 0.3, "balanced"
		return c
	}
	straight := conf(3)
	if _, err := Run(ctx, straight, Options{}); err != nil {
		t.Fatal(err)
	}
	var rec Config
	var split rundir.SplitRecord
	if err := rundir.ReadJSON(straight.Out, rundir.ConfigFile, &rec); err != nil {
		t.Fatal(err)
	}
	if err := rundir.ReadJSON(straight.Out, rundir.SplitFile, &split); err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for _, s := range split.Train {
		counts[filepath.Base(filepath.Dir(s.ID))]++
	}
	if len(rec.ClassWeights) != 10 || len(counts) != 10 {
		t.Fatalf("class_weights %v for training counts %v", rec.ClassWeights, counts)
	}
	for c, n := range counts {
		want := float64(len(split.Train)) / (10 * float64(n))
		if got := rec.ClassWeights[c]; math.Abs(got-want) > 1e-12 {
			t.Errorf("class %s (%d samples): weight %v, want %v", c, n, got, want)
		}
	}
	if rec.ClassWeights["0"] <= rec.ClassWeights["1"] {
		t.Errorf("the rare class 0 weighs %v, class 1 %v", rec.ClassWeights["0"], rec.ClassWeights["1"])
	}

	cut := conf(3)
	cctx, cancel := context.WithCancel(ctx)
	_, err := Run(cctx, cut, Options{Progress: func(e Event) {
		if e.Kind == api.EventEpoch && e.Epoch == 1 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := Run(ctx, Config{Out: cut.Out}, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	want := params(t, filepath.Join(straight.Out, rundir.LastCkpt))
	equalParams(t, "resumed vs uninterrupted", params(t, filepath.Join(cut.Out, rundir.LastCkpt)), want)

	plain := smallConfig(t, data, 3)
	if _, err := Run(ctx, plain, Options{}); err != nil {
		t.Fatal(err)
	}
	if p := params(t, filepath.Join(plain.Out, rundir.LastCkpt)); len(p) == len(want) {
		same := true
		for i := range p {
			same = same && p[i] == want[i]
		}
		if same {
			t.Error("dropout and class weights changed nothing")
		}
	}
}

// TestClassWeightFile checks a weights file by class name (classes it
// leaves out weigh 1, as in Keras), and that unknown names or bad weights
// fail before the run directory exists.
func TestClassWeightFile(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 3)
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := smallConfig(t, data, 1)
	good.ClassWeight = write("good.json", `{"3": 2.5, "7": 0}`)
	if _, err := Run(context.Background(), good, Options{}); err != nil {
		t.Fatal(err)
	}
	var rec Config
	if err := rundir.ReadJSON(good.Out, rundir.ConfigFile, &rec); err != nil {
		t.Fatal(err)
	}
	if w := rec.ClassWeights; w["3"] != 2.5 || w["7"] != 0 || w["1"] != 1 || len(w) != 10 {
		t.Errorf("class_weights %v", w)
	}
	for _, c := range []struct{ name, body, want string }{
		{"unknown.json", `{"3": 1, "cat": 2, "dog": 1}`, `"cat", "dog"`},
		{"negative.json", `{"3": -1}`, `class "3"`},
		{"list.json", `[1, 2]`, "JSON object"},
	} {
		bad := smallConfig(t, data, 1)
		bad.ClassWeight = write(c.name, c.body)
		_, err := Run(context.Background(), bad, Options{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one naming %s", c.name, err, c.want)
		}
		if _, serr := os.Stat(bad.Out); !errors.Is(serr, os.ErrNotExist) {
			t.Errorf("%s: the failed run left %s behind", c.name, bad.Out)
		}
	}
}
