package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// Issue 22, defect 4 (training): a checkpoint write that finds the disk
// full (ENOSPC, from the worker's test-only --test-full-disk-at) does not
// fail the job, even with a single attempt allowed: the attempt ends
// deferred, and the job resumes from the intact checkpoint of the epoch
// before and succeeds, its metrics continuing from there.
func TestFullDiskDuringTrainingResumes(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxAttempts: 1, WorkerArgs: []string{"--test-full-disk-at", "2"}})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(3))
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Succeeded || j.Failures() != 0 || len(j.Attempts) != 2 {
		t.Fatalf("job %s after %+v: %q", j.State, j.Attempts, j.Error)
	}
	first, second := j.Attempts[0], j.Attempts[1]
	if first.Exit != api.ExitDeferred || !strings.Contains(first.Reason, "no space left on device") || !strings.Contains(first.Reason, "epoch 2") {
		t.Errorf("first attempt: %s %q, want deferred for the full disk at epoch 2", first.Exit, first.Reason)
	}
	if !second.Resumed || second.Exit != api.ExitSucceeded {
		t.Errorf("second attempt: resumed %v, %s", second.Resumed, second.Exit)
	}
	m, err := rundir.ReadMetrics(j.RunDir)
	if err != nil || len(m) != 3 || m[0].Epoch != 1 || m[1].Epoch != 2 || m[2].Epoch != 3 {
		t.Errorf("metrics.jsonl: %+v %v, want epochs 1, 2, 3 once each", m, err)
	}
	// Each attempt's epochs: the second continues after the first's last
	// intact one.
	epochs := map[int][]int{}
	if _, err := s.Events(ctx, j.ID, 0, false, func(e api.JobEvent) error {
		if e.Type == string(api.EventEpoch) {
			var ev api.Event
			if err := json.Unmarshal(e.Data, &ev); err != nil {
				return err
			}
			epochs[e.Attempt] = append(epochs[e.Attempt], ev.Epoch)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(epochs[1]) != "[1]" || fmt.Sprint(epochs[2]) != "[2 3]" {
		t.Errorf("epochs by attempt %v, want [1] then [2 3]", epochs)
	}
}

// Issue 22, defect 4 (training): a job whose data directory's disk has
// less than --min-free-disk free waits, queued and without a worker, and
// starts once there is room again. The disk is a small tmpfs (needs root;
// skipped where it cannot be mounted).
func TestFullDiskWaitsForRoom(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64m"); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v)", err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	f := newFixture(t, 5)
	data := filepath.Join(dir, "data")
	const minFree = 16 << 20
	ctx := context.Background()
	// A job left queued by a daemon that stopped during its first epoch.
	s1 := startServer(t, daemon.Options{DataDir: data, AllowRoots: f.roots, MinFreeDisk: minFree, WorkerArgs: []string{"--step-delay", "1h"}})
	j, err := s1.Submit(ctx, f.spec(2))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s1.Client, j.ID, 60*time.Second, "running", func(j *api.Job) bool { return lastPID(j) > 0 })
	s1.stop()
	// Then the disk fills up, leaving less than --min-free-disk.
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, int64(st.Bavail)*st.Bsize-minFree/2), 0o600); err != nil {
		t.Fatal(err)
	}
	s2 := startServer(t, daemon.Options{DataDir: data, AllowRoots: f.roots, MinFreeDisk: minFree})
	deadline := time.Now().Add(60 * time.Second)
	for !hasEvent(t, s2, j.ID, "waiting") {
		if time.Now().After(deadline) {
			t.Fatal("no waiting event")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j, err = s2.Job(ctx, j.ID); err != nil || j.State != api.Queued || lastPID(j) != 0 {
		t.Fatalf("while the disk is full: %v, state %s, attempts %+v; want queued without a worker", err, j.State, j.Attempts)
	}
	os.Remove(ballast)
	if j = waitFinal(t, s2.Client, j.ID); j.State != api.Succeeded || j.Failures() != 0 {
		t.Fatalf("job %s after %+v: %q", j.State, j.Attempts, j.Error)
	}
}

func hasEvent(t *testing.T, s *testServer, id, typ string) bool {
	t.Helper()
	found := false
	if _, err := s.Events(context.Background(), id, 0, false, func(e api.JobEvent) error {
		found = found || e.Type == typ
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return found
}
