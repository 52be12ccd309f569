package train

import (
	"testing"
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
