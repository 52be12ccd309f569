package daemon_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// otherData is a data set unlike the fixture's: three of its digit
// classes under new names.
func otherData(t *testing.T, f fixture, names ...string) string {
	t.Helper()
	dir := t.TempDir()
	for i, name := range names {
		src := filepath.Join(f.data, string(rune('0'+i)))
		if err := os.CopyFS(filepath.Join(dir, name), os.DirFS(src)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func runClasses(t *testing.T, runDir string) []string {
	t.Helper()
	var classes []string
	if err := rundir.ReadJSON(runDir, rundir.ClassesFile, &classes); err != nil {
		t.Fatal(err)
	}
	return classes
}

// succeeded submits req and waits for it to succeed.
func succeeded(t *testing.T, s *testServer, req api.JobRequest) *api.Job {
	t.Helper()
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s: %s %s", j.ID, j.State, j.Error)
	}
	return j
}

// Issue 22, defect 7: with graft.db lost, a restarted daemon gives a new
// job a new id (not the old run's), does not resume the old checkpoint,
// registers a model version past the exported one, and says loudly at
// start which run directories it does not know. A run directory that
// turns up later under a new job's id is moved aside, not resumed.
func TestLostStoreDoesNotReuseOldRuns(t *testing.T) {
	f := newFixture(t, 5)
	dataDir := filepath.Join(t.TempDir(), "data")
	s := startServer(t, daemon.Options{AllowRoots: f.roots, DataDir: dataDir})
	oldReq := f.spec(1)
	oldReq.Model = "m"
	old := succeeded(t, s, oldReq)
	if resp, body := exportReq(t, s, "/v1/models/m:export"); resp.StatusCode != 200 {
		t.Fatalf("export: %d %.300s", resp.StatusCode, body)
	}
	s.stop()
	if err := os.Remove(filepath.Join(dataDir, "graft.db")); err != nil {
		t.Fatal(err)
	}

	other := otherData(t, f, "cat", "dog", "eel")
	core, logs := observer.New(zapcore.WarnLevel)
	s = startServer(t, daemon.Options{AllowRoots: append(f.roots, other), DataDir: dataDir, Log: zap.New(core)})
	warned := false
	for _, e := range logs.All() {
		if strings.Contains(e.Message, "does not know") && slices.Contains(e.ContextMap()["jobs"].([]any), any(old.ID)) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no warning at start naming %s, whose graft.db is gone; logged: %+v", old.ID, logs.All())
	}
	req := f.spec(1)
	req.Data, req.Model = other, "m"
	j := succeeded(t, s, req)
	if j.ID == old.ID {
		t.Errorf("the new job got the old job's id %s", j.ID)
	}
	if j.Attempts[0].Resumed {
		t.Errorf("the new job resumed a checkpoint: %+v", j.Attempts[0])
	}
	if got := runClasses(t, j.RunDir); !slices.Equal(got, []string{"cat", "dog", "eel"}) {
		t.Errorf("the new job's classes: %q, want cat, dog, eel", got)
	}
	if _, err := os.Stat(filepath.Join(dataDir, "exports", "m", "1")); err != nil {
		t.Fatalf("the old export is gone: %v", err)
	}
	if j.Version == 1 {
		t.Errorf("the new job registered version 1 of model m, whose old export is still on disk")
	}
	if got := runClasses(t, old.RunDir); len(got) != 10 {
		t.Errorf("the old run's classes: %q, want its ten digits kept", got)
	}

	// A run directory the store did not know at start (copied in now,
	// under the next job's id): stamped for another job, or not at all.
	for i, unstamp := range []bool{false, true} {
		next := filepath.Join(dataDir, "runs", "job-"+strings.Repeat("0", 5)+string(rune('3'+i)))
		if out, err := exec.Command("cp", "-a", old.RunDir, next).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		if unstamp {
			os.Remove(filepath.Join(next, rundir.OwnerFile))
		}
		k := succeeded(t, s, req)
		if k.RunDir != next {
			t.Fatalf("job %s runs in %s, not in %s (the test expects ids in order)", k.ID, k.RunDir, next)
		}
		if k.Attempts[0].Resumed {
			t.Errorf("%s resumed the run copied into its directory (unstamped %v)", k.ID, unstamp)
		}
		if got := runClasses(t, k.RunDir); len(got) != 3 {
			t.Errorf("%s's classes: %q, want its own three", k.ID, got)
		}
		aside, _ := filepath.Glob(next + ".not-" + k.ID + "-*")
		if len(aside) != 1 || len(runClasses(t, aside[0])) != 10 {
			t.Errorf("the copied run was not kept aside: %q", aside)
		}
	}
}

// Issue 22, defect 7: a damaged graft.db is not recreated over the runs:
// the daemon refuses to start and says what to do.
func TestDamagedStoreRefusesToStart(t *testing.T) {
	dataDir := t.TempDir()
	junk := []byte(strings.Repeat("not a bbolt database ", 1000))
	if err := os.WriteFile(filepath.Join(dataDir, "graft.db"), junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := daemon.New(daemon.Options{DataDir: dataDir, WorkerPath: graftBin})
	if err == nil || !strings.Contains(err.Error(), "Move it aside") {
		t.Fatalf("a damaged graft.db: %v; want a refusal that says to move it aside", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dataDir, "graft.db")); string(b) != string(junk) {
		t.Error("the damaged graft.db was changed")
	}
}
