package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/run/worker"
)

// standIn is a graft-cuda that records its arguments and its stdin in dir
// and answers with events (one line each), then exits with code.
func standIn(t *testing.T, events []string, code int) (dir string) {
	t.Helper()
	dir = t.TempDir()
	bin := filepath.Join(dir, "graft-cuda")
	script := "#!/bin/sh\necho \"$@\" > '" + dir + "/args'\ncat > '" + dir + "/input'\n"
	for _, e := range events {
		script += "echo '" + e + "'\n"
	}
	script += "exit " + string(rune('0'+code)) + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("GRAFT_CUDA", bin)
	return dir
}

func recorded(t *testing.T, dir string) (args string, in worker.Input) {
	t.Helper()
	a, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, "input"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if in, err = worker.Decode(f); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(a)), in
}

const doneEvent = `{"event":"done","summary":{"epochs":1,"monitor":"val_loss","best_epoch":1,"device":"cuda:0 (stand-in)"}}`

// Issue 10: graft train --device cuda resolves the job and hands it to
// `graft-cuda worker` through the worker protocol, the user's log options
// with it (graft-cuda declares none of graft's flags: argv is not passed
// on), and renders the worker's events.
func TestTrainOnGPUReachesTheWorkerWithLogOptions(t *testing.T) {
	dir := standIn(t, []string{`{"event":"epoch","epoch":1,"epochs":1,"metrics":{"epoch":1,"val_accuracy":0.5}}`, doneEvent}, 0)
	out := filepath.Join(t.TempDir(), "run")
	stdout, stderr, code := runAll(t, "--log-level", "debug", "--log-format", "json", "train", "--device", "cuda",
		"--backbone", "m", "--tap", "t", "--data", "d", "--out", out, "--epochs", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	args, in := recorded(t, dir)
	if args != "worker" {
		t.Errorf("graft-cuda ran with %q, want worker", args)
	}
	if in.Version != api.Version || in.Log != (worker.Log{Format: "json", Level: "debug"}) || in.Resume {
		t.Errorf("worker input %+v", in)
	}
	if s := in.Spec; s.Device != api.MustDevice("cuda") || s.Out != out || s.Tap != "t" || s.Epochs != 1 || s.BatchSize != 32 || s.Version != api.Version {
		t.Errorf("worker spec %+v", s)
	}
	if !strings.Contains(stdout, `"event":"epoch"`) || !strings.Contains(stderr, "stand-in") {
		t.Errorf("events not rendered: stdout %q, stderr %q", stdout, stderr)
	}
}

// Issue 10: resuming a run recorded on cuda:1 without --device keeps
// cuda:1 (the flag's default used to move it to the cpu).
func TestResumeKeepsCUDA1(t *testing.T) {
	dir := standIn(t, []string{doneEvent}, 0)
	j, err := job.New(api.JobSpec{Backbone: "m", Tap: "t", Data: "d", Device: api.MustDevice("cuda:1"), Epochs: api.Ptr(2)}, job.Where{Out: "elsewhere"})
	if err != nil {
		t.Fatal(err)
	}
	j.Preprocess = "unit"
	run := t.TempDir()
	if err := rundir.WriteJSON(run, rundir.ConfigFile, j.RunSpec); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := runAll(t, "train", "--resume", run, "--epochs", "4"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	_, in := recorded(t, dir)
	if !in.Resume || in.Spec.Device != api.MustDevice("cuda:1") || in.Spec.Epochs != 4 || in.Spec.Out != run || in.Spec.Preprocess != "unit" {
		t.Errorf("resumed on %q (resume %v, epochs %d, out %s, preprocess %s), want cuda:1, 4 epochs in %s", in.Spec.Device, in.Resume, in.Spec.Epochs, in.Spec.Out, in.Spec.Preprocess, run)
	}
}

// A worker's reported error is graft train's error.
func TestGPUWorkerErrorIsReported(t *testing.T) {
	standIn(t, []string{`{"event":"error","message":"cuda: out of memory on cuda:0"}`}, 1)
	_, stderr, code := runAll(t, "train", "--device", "cuda:0", "--backbone", "m", "--tap", "t", "--data", "d", "--out", filepath.Join(t.TempDir(), "run"))
	if code == 0 || !strings.Contains(stderr, "out of memory on cuda:0") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
