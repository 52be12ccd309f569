package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/fit/sweep"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// TestSweep runs a random search of 5 of a grid's 8 points, two trials at
// a time, and checks it against independent oracles: the leaderboard's
// order against each trial's own summary.json; each trial's config.json
// against the settings the plan records; the best trial's head against a
// plain graft train with its settings (byte-identical: the shared
// features and concurrency change nothing); eval --split val's accuracy
// against the leaderboard's; predict and export on the best run; and one
// extraction for the whole sweep.
func TestSweep(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	cache, dir := t.TempDir(), t.TempDir()
	out := filepath.Join(dir, "sweep")
	common := []string{"--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--epochs", "3", "--seed", "2", "--batch-size", "16", "--cache-dir", cache}
	stdout, logs, code := runAll(t, append(common, "sweep", "--out", out, "--vary", "lr=1e-3,1e-2", "--vary", "head=conv:8,linear", "--vary", "dropout=0,0.3",
		"--trials", "5", "--parallel", "2", "--log-format", "json")...)
	if code != 0 {
		t.Fatalf("sweep: exit %d\n%s%s", code, stdout, logs)
	}
	t.Log(stdout)
	if n := strings.Count(logs, `"features extracted"`); n != 2 {
		t.Errorf("%d extractions logged, want one per split (2):\n%s", n, logs)
	}
	var plan sweep.Plan
	var board sweep.Leaderboard
	if err := rundir.ReadJSON(out, sweep.PlanFile, &plan); err != nil {
		t.Fatal(err)
	}
	if err := rundir.ReadJSON(out, sweep.LeaderboardFile, &board); err != nil {
		t.Fatal(err)
	}
	if len(plan.Points) != 5 || len(board.Trials) != 5 {
		t.Fatalf("%d points, %d ranked trials, want 5", len(plan.Points), len(board.Trials))
	}
	seen := map[string]bool{}
	var losses []float64
	for _, e := range board.Trials {
		if e.Error != "" {
			t.Fatalf("trial %d failed: %s", e.Trial, e.Error)
		}
		var s train.Summary
		var conf train.Config
		if err := rundir.ReadJSON(e.Run, rundir.SummaryFile, &s); err != nil {
			t.Fatal(err)
		}
		if err := rundir.ReadJSON(e.Run, rundir.ConfigFile, &conf); err != nil {
			t.Fatal(err)
		}
		if s.BestValLoss != e.ValLoss || s.BestValAccuracy != e.ValAccuracy {
			t.Errorf("trial %d: leaderboard %v/%v, its summary %v/%v", e.Trial, e.ValLoss, e.ValAccuracy, s.BestValLoss, s.BestValAccuracy)
		}
		p := plan.Points[e.Trial]
		got := fmt.Sprintf("lr=%v head=%v dropout=%v", conf.LR, conf.Head, conf.Dropout)
		want := fmt.Sprintf("lr=%v head=%v dropout=%v", num(p["lr"]), p["head"], num(p["dropout"]))
		if got != want || conf.EarlyStopping != sweep.DefaultPatience {
			t.Errorf("trial %d: config %s (early stopping %d), planned %s", e.Trial, got, conf.EarlyStopping, want)
		}
		seen[want] = true
		losses = append(losses, s.BestValLoss)
	}
	if len(seen) != 5 || !slices.IsSorted(losses) {
		t.Errorf("%d distinct trials; losses by rank %v", len(seen), losses)
	}
	best := board.Trials[0]
	if board.Best != best.Run || !strings.Contains(stdout, "best (val_loss): "+best.Run) {
		t.Errorf("best %q, first ranked %q; stdout:\n%s", board.Best, best.Run, stdout)
	}

	// The best trial as a plain run.
	p := plan.Points[best.Trial]
	alone := filepath.Join(dir, "alone")
	args := append(common, "train", "--out", alone, "--early-stopping", fmt.Sprint(sweep.DefaultPatience),
		"--lr", fmt.Sprint(num(p["lr"])), "--head", fmt.Sprint(p["head"]), "--dropout", fmt.Sprint(num(p["dropout"])))
	if out, logs, code := runAll(t, args...); code != 0 {
		t.Fatalf("train: exit %d\n%s%s", code, out, logs)
	}
	a, _ := os.ReadFile(filepath.Join(alone, rundir.HeadFile))
	b, _ := os.ReadFile(filepath.Join(best.Run, rundir.HeadFile))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Errorf("the best trial's head (%d bytes) differs from a plain run's with its settings (%d bytes)", len(b), len(a))
	}

	// The best trial's directory, and the sweep directory promoted to a
	// copy of it, are runs that eval, predict and export take.
	promoted, _ := os.ReadFile(filepath.Join(out, rundir.HeadFile))
	if !bytes.Equal(promoted, b) {
		t.Errorf("the sweep directory's head (%d bytes) is not the best trial's (%d bytes)", len(promoted), len(b))
	}
	imgs, _ := filepath.Glob(filepath.Join(data, "3", "*.png"))
	for i, r := range []string{best.Run, out} {
		out2, logs, code := runAll(t, "eval", "--run", r, "--split", "val", "--format", "json")
		var ev evalJSON
		if code != 0 || json.Unmarshal([]byte(out2), &ev) != nil || ev.Accuracy != best.ValAccuracy {
			t.Errorf("eval of %s: exit %d, accuracy %v, leaderboard %v\n%s", r, code, ev.Accuracy, best.ValAccuracy, logs)
		}
		if out, logs, code := runAll(t, "predict", "--run", r, imgs[0]); code != 0 || out == "" {
			t.Errorf("predict with %s: exit %d\n%s%s", r, code, out, logs)
		}
		if out, logs, code := runAll(t, "export", "--run", r, "--out", filepath.Join(dir, fmt.Sprint("export", i))); code != 0 {
			t.Errorf("export of %s: exit %d\n%s%s", r, code, out, logs)
		}
	}
}

// num is a plan's number as a flag writes it.
func num(v any) any {
	if n, ok := v.(json.Number); ok {
		f, _ := n.Float64()
		return f
	}
	if f, ok := v.(float64); ok {
		return f
	}
	return v
}

// TestSweepBadSpace checks that a bad space fails before anything is
// written, naming what to do.
func TestSweepBadSpace(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 2)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--vary", "tap=a,b"}, "cannot vary"},
		{[]string{"--vary", "lr"}, "KEY=V1,V2"},
		{[]string{"--vary", "lr=fast,1e-3"}, "lr"},
		{[]string{"--vary", "dropout=0,1.5"}, "dropout"},
		{nil, "nothing to vary"},
	} {
		out := filepath.Join(t.TempDir(), "sweep")
		_, logs, code := runAll(t, append([]string{"sweep", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--out", out}, c.args...)...)
		if code == 0 || !strings.Contains(logs, c.want) {
			t.Errorf("%v: exit %d, want an error naming %q:\n%s", c.args, code, c.want, logs)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: left %s behind", c.args, out)
		}
	}
}

// TestSweepConfig checks a job spec with a sweep (the daemon's form) as
// --config: graft sweep runs its space, graft train refuses it.
func TestSweepConfig(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 3)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sweep.json")
	spec := fmt.Sprintf(`{"backbone": %q, "tap": "conv2d_2", "data": %q, "preprocess": "unit", "head": "linear", "epochs": 1,
		"sweep": {"space": {"lr": [0.001, 0.01]}, "trials": 0}}`, fashionCNN, data)
	if err := os.WriteFile(conf, []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, logs, code := runAll(t, "train", "--config", conf, "--cache-dir", "none", "--out", filepath.Join(dir, "run")); code == 0 || !strings.Contains(logs, "graft sweep --config") {
		t.Errorf("train --config with a sweep: exit %d\n%s", code, logs)
	}
	out := filepath.Join(dir, "sweep")
	if stdout, logs, code := runAll(t, "sweep", "--config", conf, "--cache-dir", "none", "--out", out); code != 0 {
		t.Fatalf("sweep --config: exit %d\n%s%s", code, stdout, logs)
	}
	var board sweep.Leaderboard
	if err := rundir.ReadJSON(out, sweep.LeaderboardFile, &board); err != nil || len(board.Trials) != 2 {
		t.Errorf("leaderboard %+v, %v: want the config's 2 trials", board, err)
	}
}
