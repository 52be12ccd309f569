package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// bf16Ran says a run's log reports the bf16 CPU head (its kernel named).
func bf16Ran(stderr string) bool {
	return strings.Contains(stderr, `"cpu head"`) && strings.Contains(stderr, `"precision":"bf16"`) && strings.Contains(stderr, gemm.BF16Kernel())
}

// graft train --precision bf16 records it in config.json; --resume keeps
// it without the flag (the bf16 head runs again), and --precision fp32
// changes it for that resumption (config.json is the first run's record,
// not rewritten on resume, as with --epochs: not checked).
func TestTrainResumeKeepsPrecision(t *testing.T) {
	if err := gemm.BF16Check(); err != nil {
		t.Skip(err)
	}
	data, cache := testmodules.Digits(t, "train", 0, 2), t.TempDir()
	out := filepath.Join(t.TempDir(), "run")
	for _, c := range []struct {
		args   []string
		prec   string
		record string
	}{
		{[]string{"--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit", "--head", "conv:8", "--epochs", "1", "--out", out, "--precision", "bf16"}, "bf16", "bf16"},
		{[]string{"--resume", out, "--epochs", "2"}, "bf16", "bf16"},
		{[]string{"--resume", out, "--epochs", "3", "--precision", "fp32"}, "fp32", ""},
	} {
		_, stderr, code := runAll(t, append([]string{"train", "--cache-dir", cache}, c.args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d:\n%s", c.args, code, stderr)
		}
		if bf16Ran(stderr) != (c.prec == "bf16") {
			t.Errorf("%v: the log says the bf16 head ran: %v, want %s:\n%s", c.args, bf16Ran(stderr), c.prec, stderr)
		}
		var rec api.RunSpec
		if err := rundir.ReadJSON(out, rundir.ConfigFile, &rec); c.record != "" && (err != nil || rec.Precision != c.record) {
			t.Errorf("%v: config.json precision %q (%v), want %s", c.args, rec.Precision, err, c.record)
		}
	}
}

// tf32 is the GPUs': a cpu run is refused before its run directory exists.
func TestTrainTF32OnTheCPURefused(t *testing.T) {
	out := filepath.Join(t.TempDir(), "run")
	_, stderr, code := runAll(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", t.TempDir(), "--device", "cpu", "--precision", "tf32", "--out", out)
	if code == 0 || !strings.Contains(stderr, "precision") || !strings.Contains(stderr, "GPUs only") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the run directory was created")
	}
}

// graft train --device cuda hands --precision to graft-cuda in the job
// (graft used to refuse the flag there); a resumed GPU run keeps the
// recorded precision unless the flag gives another.
func TestGPUHandoffCarriesPrecision(t *testing.T) {
	dir := standIn(t, []string{doneEvent}, 0)
	if _, stderr, code := runAll(t, "train", "--device", "cuda", "--precision", "bf16", "--backbone", "m", "--tap", "t", "--data", "d", "--out", filepath.Join(t.TempDir(), "run")); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, in := recorded(t, dir); in.Spec.Precision != "bf16" {
		t.Errorf("worker spec precision %q, want bf16", in.Spec.Precision)
	}
	j, err := job.New(api.JobSpec{Backbone: "m", Tap: "t", Data: "d", Device: api.MustDevice("cuda"), Precision: "tf32"}, job.Where{Out: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	run := t.TempDir()
	if err := rundir.WriteJSON(run, rundir.ConfigFile, j.RunSpec); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		flags []string
		want  string
	}{{nil, "tf32"}, {[]string{"--precision", "fp32"}, "fp32"}} {
		if _, stderr, code := runAll(t, append([]string{"train", "--resume", run}, c.flags...)...); code != 0 {
			t.Fatalf("%v: exit %d: %s", c.flags, code, stderr)
		}
		if _, in := recorded(t, dir); !in.Resume || in.Spec.Precision != c.want {
			t.Errorf("%v: resumed (%v) with precision %q, want %s", c.flags, in.Resume, in.Spec.Precision, c.want)
		}
	}
}
