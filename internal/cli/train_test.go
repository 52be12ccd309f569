package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// resolve runs the train command's flag parsing and resolves the job
// without training.
func resolve(t *testing.T, args ...string) (*job.Job, error) {
	t.Helper()
	var got *job.Job
	cmd := TrainCommand("test", func(_ *cobra.Command, tj *TrainJob) error {
		var err error
		got, err = tj.Resolve()
		return err
	})
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return got, err
}

func TestConfigFileThenFlags(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(spec, []byte(`{"backbone":"m","tap":"conv2d_2","data":"d","epochs":3,"batch_size":8,"tags":["serve","gpu"],"head":"linear"}`), 0o644)
	c, err := resolve(t, "--config", spec, "--epochs", "5", "--tags", "serve", "--out", "run")
	if err != nil {
		t.Fatal(err)
	}
	// From the file: tap, batch size, head; from flags: epochs, tags, out;
	// untouched defaults: optimizer.
	if c.Tap != "conv2d_2" || c.BatchSize != 8 || c.Head != "linear" || c.Epochs != 5 || strings.Join(c.Tags, ",") != "serve" || c.Out != "run" || c.Optimizer != "adam" {
		t.Errorf("merged config %+v", c)
	}

	os.WriteFile(spec, []byte(`{"epochz": 3}`), 0o644)
	if _, err := resolve(t, "--config", spec); err == nil || !strings.Contains(err.Error(), "epochz") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := resolve(t, "--config", filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("missing file accepted")
	}
}

// `epochs: 0` (or --epochs 0) is an error, not "the default".
func TestZeroEpochsIsAnError(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(spec, []byte(`{"backbone":"m","tap":"t","data":"d","epochs":0}`), 0o644)
	for _, args := range [][]string{
		{"--config", spec, "--out", "run"},
		{"--backbone", "m", "--tap", "t", "--data", "d", "--out", "run", "--epochs", "0"},
	} {
		if _, err := resolve(t, args...); err == nil || !strings.Contains(err.Error(), "epochs: must be >= 1") {
			t.Errorf("%v: %v, want an epochs error", args, err)
		}
	}
}

// A run's config.json is a valid --config: its out is --out's default, and
// what it records of how it ran is no setting.
func TestRunConfigAsConfigFile(t *testing.T) {
	j, err := job.New(api.JobSpec{Backbone: "m", Tap: "t", Data: "d"}, job.Where{Out: "old-run", AllowRoots: []string{"/x"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	j.PreprocessReason = "because"
	if err := rundir.WriteJSON(dir, rundir.ConfigFile, j.RunSpec); err != nil {
		t.Fatal(err)
	}
	got, err := resolve(t, "--config", filepath.Join(dir, rundir.ConfigFile), "--epochs", "2")
	if err != nil {
		t.Fatal(err)
	}
	if got.Out != "old-run" || got.Epochs != 2 || got.Tap != "t" || len(got.AllowRoots) != 0 {
		t.Errorf("job from a config.json: %+v", got.RunSpec)
	}
}

// Issue 10: resuming a run recorded on cuda:1 without --device keeps
// cuda:1 (the flag's default used to move it to the cpu); --device moves
// it, --epochs extends it, and what defines the run cannot change.
func TestResumeKeepsTheRunsDevice(t *testing.T) {
	j, err := job.New(api.JobSpec{Backbone: "m", Tap: "t", Data: "d", Device: api.MustDevice("cuda:1"), Epochs: api.Ptr(3)}, job.Where{Out: "x"})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := rundir.WriteJSON(dir, rundir.ConfigFile, j.RunSpec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args   []string
		device string
		epochs int
		err    string
	}{
		{nil, "cuda:1", 3, ""},
		{[]string{"--epochs", "6"}, "cuda:1", 6, ""},
		{[]string{"--device", "cpu"}, "cpu", 3, ""},
		{[]string{"--tap", "other"}, "", 0, "tap: the run was trained with \"t\""},
	} {
		got, err := resolve(t, append([]string{"--resume", dir}, c.args...)...)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: %v, want %q", c.args, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		if got.Device.String() != c.device || got.Epochs != c.epochs || got.Out != dir {
			t.Errorf("%v: device %s, epochs %d, out %s; want %s, %d, %s", c.args, got.Device, got.Epochs, got.Out, c.device, c.epochs, dir)
		}
	}
}
