package raylaunch_test

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon/raylaunch"
)

// serveProc is `graft serve --launcher ray` as a process of its own, so
// that the test can kill it with SIGKILL.
func serveProc(t *testing.T, dataDir, data string) (*exec.Cmd, *client.Client) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(graftBin, "serve", "--listen", addr, "--data-dir", dataDir,
		"--allow-root", filepath.Dir(backboneDir), "--allow-root", data,
		"--launcher", "ray", "--ray-address", rayAddress, "--worker-step-delay", "300ms", "--retry-backoff", "50ms")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	c := client.New(addr, "")
	deadline := time.Now().Add(3 * time.Minute) // the start-up probe runs a Ray job per node
	for {
		if _, err := c.Jobs(context.Background()); err == nil {
			return cmd, c
		}
		if time.Now().After(deadline) {
			t.Fatalf("graft serve --launcher ray did not answer at %s", addr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// A daemon killed with SIGKILL leaves its Ray job running; the next
// daemon on the same data directory re-attaches to it: one attempt, no
// second Ray job, and the head of an uninterrupted run.
func TestRayDaemonRestartReattaches(t *testing.T) {
	c := ray(t)
	data := digits(t)
	want, _ := localReference(t, data)
	dataDir := filepath.Join(t.TempDir(), "data")
	serve, d := serveProc(t, dataDir, data)
	j, err := d.Submit(context.Background(), spec(data, epochs))
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, d, j.ID, 2*time.Minute, "training", func(j *api.Job) bool { return j.Progress.Step > 0 })
	serve.Process.Signal(syscall.SIGKILL)
	serve.Wait()
	id, err := raylaunch.DaemonID(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	sid := raylaunch.SubmissionID(id, j.ID, 1)
	if rj, err := c.Job(context.Background(), sid); err != nil || rj.Status != raylaunch.Running {
		t.Fatalf("after the daemon's SIGKILL its Ray job %s: %+v, %v; want RUNNING", sid, rj, err)
	}

	_, d = serveProc(t, dataDir, data)
	j = waitJob(t, d, j.ID, 3*time.Minute, "ended", final)
	if j.State != api.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].LaunchID != sid {
		t.Fatalf("job %s, attempts %+v; want one attempt, %s", j.State, j.Attempts, sid)
	}
	if _, err := c.Job(context.Background(), raylaunch.SubmissionID(id, j.ID, 2)); !errors.Is(err, raylaunch.ErrNotFound) {
		t.Errorf("a second Ray job for the job: %v", err)
	}
	reattached := false
	d.Events(context.Background(), j.ID, 0, false, func(e api.JobEvent) error {
		reattached = reattached || e.Type == "reattached"
		return nil
	})
	if !reattached {
		t.Errorf("no reattached event")
	}
	sameHead(t, j.RunDir, want, "after the re-attach")
}
