package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/internal/rundir"
	"github.com/graft-ml/graft/internal/testmodules"
)

// config.json records the values a run uses, not 0 for "default"; an old
// config with 0 resolves to the same optimizer as before.
func TestDefaultsRecordEffectiveOptimizerValues(t *testing.T) {
	cases := []struct {
		optimizer        string
		lr, wd, momentum float64 // given
		wantLR, wantWD   float64
		wantMomentum     float64
	}{
		{"adam", 0, 0, 0, 0.001, 0, 0},
		{"adamw", 0, 0, 0, 0.001, 0.004, 0},
		{"sgd", 0, 0, 0, 0.01, 0, 0.9},
		{"adam", 0.05, 0, 0, 0.05, 0, 0},
		{"sgd", 0.1, 0, 0.5, 0.1, 0, 0.5},
	}
	for _, c := range cases {
		cfg := Config{Optimizer: c.optimizer, LR: c.lr, WeightDecay: c.wd, Momentum: c.momentum}
		old := cfg
		cfg.Defaults()
		if cfg.LR != c.wantLR || cfg.WeightDecay != c.wantWD || cfg.Momentum != c.wantMomentum {
			t.Errorf("%+v: lr %v wd %v momentum %v, want %v %v %v", c, cfg.LR, cfg.WeightDecay, cfg.Momentum, c.wantLR, c.wantWD, c.wantMomentum)
		}
		// The optimizer built from the recorded values is the one the
		// zeros gave before.
		old.LR, old.WeightDecay, old.Momentum = c.lr, c.wd, c.momentum
		a, errA := cfg.optimizer()
		b, errB := old.optimizer()
		if errA != nil || errB != nil || a != b {
			t.Errorf("%+v: optimizer %+v (%v) vs %+v (%v)", c, a, errA, b, errB)
		}
	}
}

// A run directory written before graft recorded effective values and
// splits (config.json with "lr": 0, no split.json) resumes exactly as an
// uninterrupted run.
func TestOldRunDirectoryResumes(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	ctx := context.Background()
	straight := smallConfig(t, data, 2)
	if _, err := Run(ctx, straight, Options{}); err != nil {
		t.Fatal(err)
	}
	cut := smallConfig(t, data, 2)
	cctx, cancel := context.WithCancel(ctx)
	Run(cctx, cut, Options{Progress: func(e Event) {
		if e.Event == "epoch" && e.Epoch == 1 {
			cancel()
		}
	}})
	var rec map[string]any
	if err := rundir.ReadJSON(cut.Out, rundir.ConfigFile, &rec); err != nil {
		t.Fatal(err)
	}
	rec["lr"], rec["momentum"], rec["weight_decay"] = 0, 0, 0
	delete(rec, "preprocess_reason")
	if err := rundir.WriteJSON(cut.Out, rundir.ConfigFile, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cut.Out, SplitFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Config{Out: cut.Out}, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	equalParams(t, "old run resumed vs uninterrupted", params(t, filepath.Join(cut.Out, rundir.LastCkpt)), params(t, filepath.Join(straight.Out, rundir.LastCkpt)))
}
