package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/fit/sweep"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// A sweep job: the worker trains every trial, the job's run directory is
// the best trial's run (its summary the job's, registered as the model's
// version) beside trials/ and leaderboard.json; a bad space is refused at
// submission, as is a sweep on cuda.
func TestSweepJob(t *testing.T) {
	f := newFixture(t, 4)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	req := f.spec(2)
	req.Sweep = &api.SweepSpec{Space: map[string][]any{"lr": {0.001, 0.01}, "head": {"conv:8", "linear"}}, Trials: 3, Parallel: 2}
	j, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("sweep job %s: %s", j.State, j.Error)
	}
	var board sweep.Leaderboard
	if err := rundir.ReadJSON(j.RunDir, sweep.LeaderboardFile, &board); err != nil {
		t.Fatal(err)
	}
	if len(board.Trials) != 3 || board.Best == "" || !strings.HasPrefix(board.Best, j.RunDir) {
		t.Fatalf("leaderboard %+v in %s", board, j.RunDir)
	}
	var best api.Summary
	if err := rundir.ReadJSON(board.Best, rundir.SummaryFile, &best); err != nil {
		t.Fatal(err)
	}
	if j.Summary == nil || j.Summary.BestValLoss != best.BestValLoss || j.Summary.BestValLoss != board.Trials[0].ValLoss || j.Version < 1 {
		t.Errorf("job summary %+v (version %d); best trial's %+v", j.Summary, j.Version, best)
	}
	a, _ := os.ReadFile(filepath.Join(j.RunDir, rundir.HeadFile))
	b, _ := os.ReadFile(filepath.Join(board.Best, rundir.HeadFile))
	if len(a) == 0 || string(a) != string(b) {
		t.Errorf("the job's head is not the best trial's")
	}

	for _, c := range []struct {
		name  string
		sweep *api.SweepSpec
		dev   api.Device
		field string
	}{
		{"a key that needs new features", &api.SweepSpec{Space: map[string][]any{"tap": {"a", "b"}}}, api.Device{}, "sweep"},
		{"a bad value", &api.SweepSpec{Space: map[string][]any{"dropout": {0, 2}}}, api.Device{}, "sweep"},
		{"cuda", &api.SweepSpec{Space: map[string][]any{"lr": {0.1}}}, api.MustDevice("cuda"), "device"},
	} {
		r := f.spec(1)
		r.Sweep, r.Device = c.sweep, c.dev
		if _, err := s.Submit(ctx, r); err == nil || !strings.Contains(err.Error(), "400") || !strings.Contains(err.Error(), "invalid job spec: "+c.field+":") {
			t.Errorf("%s: %v, want a 400 on %s", c.name, err, c.field)
		}
	}
}
