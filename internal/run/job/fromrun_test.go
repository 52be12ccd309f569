package job

import (
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// FromRun, the one resume merge of a record (a worker's input,
// train.Run): the stored run on cuda:1 for 3 epochs; the record moves
// it, extends it, re-sizes its threads, or leaves it; its other fields never reach the run.
func TestFromRun(t *testing.T) {
	dir := t.TempDir()
	s := base()
	s.Device, s.Epochs = api.MustDevice("cuda:1"), api.Ptr(3)
	stored, err := New(s, Where{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := rundir.WriteJSON(dir, rundir.ConfigFile, stored.RunSpec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		rec     api.RunSpec
		device  api.Device
		epochs  int
		tap     string
		threads int
	}{
		{"nothing set", api.RunSpec{Out: dir}, api.Device{Kind: api.CUDA, Index: 1}, 3, "t", 0},
		{"moved and extended", api.RunSpec{Out: dir, Device: api.MustDevice("cpu"), Epochs: 8, Threads: 3}, api.Device{Kind: api.CPU}, 8, "t", 3},
		{"other fields ignored", api.RunSpec{Out: dir, Tap: "u", Seed: 99}, api.Device{Kind: api.CUDA, Index: 1}, 3, "t", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			j, err := FromRun(c.rec, true)
			if err != nil {
				t.Fatal(err)
			}
			if j.Device != c.device || j.Epochs != c.epochs || j.Tap != c.tap || j.Threads != c.threads || j.Seed != stored.Seed || j.Out != dir {
				t.Errorf("resumed to device %v, epochs %d, tap %q, threads %d, seed %d, out %q", j.Device, j.Epochs, j.Tap, j.Threads, j.Seed, j.Out)
			}
		})
	}
	// Without resume the record is a new run's, its zero fields the
	// defaults (32, Keras's batch size).
	j, err := FromRun(api.RunSpec{Backbone: "m", Tap: "u", Data: "d", Out: "new"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if j.Tap != "u" || j.BatchSize != 32 {
		t.Errorf("new run: tap %q, batch %d", j.Tap, j.BatchSize)
	}
}

// A worker's resumed input keeps the stored run's precision (a daemon
// job's next attempt, graft train --resume on a GPU), unless the sender
// sets another; the stored record is written as JSON and read back, as a
// run's config.json is.
func TestFromRunPrecision(t *testing.T) {
	dir := t.TempDir()
	s := base()
	s.Precision = "bf16"
	stored, err := New(s, Where{Out: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := rundir.WriteJSON(dir, rundir.ConfigFile, stored.RunSpec); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := rundir.ReadJSON(dir, rundir.ConfigFile, &raw); err != nil || raw["precision"] != "bf16" {
		t.Fatalf("config.json precision %v (%v), want bf16", raw["precision"], err)
	}
	for _, c := range []struct {
		set  string
		want head.Precision
	}{{"", head.PrecisionBF16}, {"fp32", head.PrecisionFP32}, {"auto", head.PrecisionAuto}} {
		j, err := FromRun(api.RunSpec{Out: dir, Precision: c.set}, true)
		if err != nil {
			t.Fatal(err)
		}
		if j.HeadPrecision != c.want {
			t.Errorf("resumed with precision %q: %q, want %q", c.set, j.HeadPrecision, c.want)
		}
	}
}
