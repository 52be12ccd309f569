package daemon_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/daemon/store"
)

// Issue 11, defects 15 and 17: a worker gets only the environment it
// needs (never the daemon's GRAFT_TOKEN), and a worker line over the
// 8 MiB limit is skipped while the pipe is drained: the job ends with the
// worker's own error instead of hanging.
func TestWorkerEnvironmentAndLongLines(t *testing.T) {
	t.Setenv("GRAFT_TOKEN", "daemon-secret-token")
	t.Setenv("SOME_CLOUD_KEY", "another-secret")
	f := newFixture(t, 2)
	dir := t.TempDir()
	dump := filepath.Join(dir, "env")
	script := "#!/bin/sh\nenv > " + dump + "\nhead -c 9437184 /dev/zero | tr '\\0' a\necho\necho '{\"event\":\"error\",\"message\":\"stand-in finished\"}'\nexit 3\n"
	worker := filepath.Join(dir, "worker")
	if err := os.WriteFile(worker, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, WorkerPath: worker})
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Failed || j.Error != "stand-in finished" {
		t.Errorf("job %s %q; want failed with the worker's message", j.State, j.Error)
	}
	env, err := os.ReadFile(dump)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(env), "secret") || !strings.Contains(string(env), "PATH=") {
		t.Errorf("the worker's environment:\n%s", env)
	}
}

// Issue 11, defect 16: logs, run directories and checkpoints are private;
// a graceful shutdown records the interruption only, not an error.
func TestPrivateFilesAndCleanShutdown(t *testing.T) {
	f := newFixture(t, 3)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, WorkerArgs: []string{"--step-delay", "100ms"}})
	j, err := s.Submit(context.Background(), f.spec(1000))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.Client, j.ID, 60*time.Second, "checkpointed", func(j *api.Job) bool { return j.Progress.Epoch >= 2 })
	s.stop()
	for _, p := range []string{s.dir, filepath.Join(s.dir, "logs", j.ID+".log"), j.RunDir, filepath.Join(j.RunDir, "checkpoints", "last.safetensors")} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s is %v: readable by others", p, st.Mode().Perm())
		}
	}
	var logs []string
	filepath.WalkDir(j.RunDir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			if st, _ := d.Info(); st != nil && st.Mode().Perm()&0o077 != 0 {
				logs = append(logs, p)
			}
		}
		return nil
	})
	if len(logs) > 0 {
		t.Errorf("open to others in the run: %v", logs)
	}
	st, err := store.Open(filepath.Join(s.dir, "graft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Events(j.ID, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == string(api.EventError) {
			t.Errorf("the shutdown recorded an error event: %q", e.Message)
		}
	}
	if last := evs[len(evs)-1]; last.Type != "interrupted" {
		t.Errorf("last event %q, want interrupted", last.Type)
	}
}

// Issue 11, defect 13: a feature cache that cannot be read or written
// (here every entry folder is a file) does not fail a job whose features
// fit in memory: the worker warns and trains without it.
func TestBrokenFeatureCacheDoesNotFailTheJob(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("first job: %s %q", j.State, j.Error)
	}
	spaces, _ := filepath.Glob(filepath.Join(s.dir, "cache", "*"))
	if len(spaces) == 0 {
		t.Fatal("the first job cached nothing")
	}
	for _, ns := range spaces {
		os.RemoveAll(ns)
		os.Mkdir(ns, 0o700)
		for i := range 256 {
			os.WriteFile(filepath.Join(ns, fmt.Sprintf("%02x", i)), nil, 0o600)
		}
	}
	j, err = s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Errorf("job with a broken cache: %s %q", j.State, j.Error)
	}
}

// Issue 29, item 5: a job's threads reach its worker. The machine has
// more than one core (Go's default GOMAXPROCS is at least 2), so a
// worker that reports 1 ran as told, not by default.
func TestWorkerThreads(t *testing.T) {
	f := newFixture(t, 2)
	// Workers log at the daemon's level: info shows their start.
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(io.Discard), zap.InfoLevel))
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Log: log})
	spec := f.spec(1)
	spec.Threads = api.Ptr(1)
	j, err := s.Submit(context.Background(), spec)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("%s %s", j.State, j.Error)
	}
	if j.Spec.Threads != 1 {
		t.Errorf("the stored spec has threads %d; want 1", j.Spec.Threads)
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "logs", j.ID+".log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"gomaxprocs":1`) {
		t.Errorf("the worker's log does not report GOMAXPROCS 1:\n%s", b)
	}
}
