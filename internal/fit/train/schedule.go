package train

import (
	"math"

	"github.com/graft-ml/graft/internal/run/rundir"
)

// state is the trainer's resume state, stored in every checkpoint beside
// the head's own (parameters, moments, step, RNG).
type state struct {
	Epoch      int     `json:"epoch"` // epochs completed
	LR         float64 `json:"lr"`    // the rate of the next epoch
	BestEpoch  int     `json:"best_epoch"`
	BestMetric float64 `json:"best_metric"` // of Config.Monitor
	// Wait counts epochs without improvement: for early stopping and,
	// separately, for reduce-on-plateau.
	Wait        int `json:"wait"`
	PlateauWait int `json:"plateau_wait"`
	// History is every completed epoch's metrics, so that a checkpoint
	// carries the metrics.jsonl it goes with: a worker killed between the
	// checkpoint's write and metrics.jsonl's loses no epoch's line.
	History []rundir.Metrics `json:"history,omitempty"`
}

// better reports whether metric improves on best by more than minDelta.
func better(monitor string, metric, best, minDelta float64) bool {
	if monitor == "val_accuracy" {
		return metric > best+minDelta
	}
	return metric < best-minDelta
}

// worst is the monitored metric's starting point.
func worst(monitor string) float64 {
	if monitor == "val_accuracy" {
		return math.Inf(-1)
	}
	return math.Inf(1)
}

// scheduledLR is the rate for epoch e (from 0) of the closed-form
// schedules; plateau keeps its rate in the state instead.
func scheduledLR(c *Config, base float64, e int) float64 {
	switch c.Schedule {
	case "cosine":
		return base * 0.5 * (1 + math.Cos(math.Pi*float64(e)/float64(c.Epochs)))
	case "step":
		return base * math.Pow(c.Gamma, float64(e/c.StepEvery))
	}
	return base
}
