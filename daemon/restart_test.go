package daemon_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
)

// daemonProc is `graft serve` run from the built binary.
type daemonProc struct {
	cmd  *exec.Cmd
	done chan error
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startDaemon(t *testing.T, addr, dataDir string, f fixture, extra ...string) *daemonProc {
	t.Helper()
	args := []string{"serve", "--listen", addr, "--data-dir", dataDir, "--log-format", "json", "--max-concurrent-jobs", "1", "--retry-backoff", "50ms", "--grace", "5s"}
	for _, r := range f.roots {
		args = append(args, "--allow-root", r)
	}
	return startDaemonCmd(t, addr, dataDir, exec.Command(graftBin, append(args, extra...)...))
}

// startDaemonCmd starts cmd, a graft serve on addr, and waits until it is ready.
func startDaemonCmd(t *testing.T, addr, dataDir string, cmd *exec.Cmd) *daemonProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(filepath.Dir(dataDir), "serve.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &daemonProc{cmd: cmd, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-p.done })
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p
			}
		}
		select {
		case err := <-p.done:
			log, _ := os.ReadFile(filepath.Join(filepath.Dir(dataDir), "serve.log"))
			t.Fatalf("graft serve exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("graft serve not ready after 20s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wait waits for the daemon to exit and returns its error.
func (p *daemonProc) wait(t *testing.T, within time.Duration) error {
	t.Helper()
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		return err
	case <-time.After(within):
		t.Fatalf("graft serve still running after %v", within)
		return nil
	}
}

// gone waits until process pid no longer exists.
func gone(t *testing.T, pid int) {
	t.Helper()
	for i := 0; i < 250; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("worker %d outlived its daemon", pid)
}

// kill -9 of the daemon mid-job, restart: the job resumes and succeeds;
// then SIGTERM mid-job: a clean exit, and the next start resumes it again.
// No job is lost or duplicated, and the weights equal an uninterrupted run.
func TestDaemonKilledAndStopped(t *testing.T) {
	f := newFixture(t, 5)
	dataDir := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	c := client.New(addr, "")
	ctx := context.Background()
	delay := []string{"--worker-step-delay", "60ms"}

	d := startDaemon(t, addr, dataDir, f, delay...)
	reqA, reqB := f.spec(8), f.spec(2)
	a, err := c.Submit(ctx, reqA)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Submit(ctx, reqB) // queued behind a
	if err != nil {
		t.Fatal(err)
	}
	j := waitFor(t, c, a.ID, 30*time.Second, "past epoch 2", func(j *api.Job) bool { return j.Progress.Epoch >= 3 && lastPID(j) > 0 })
	if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	d.wait(t, 10*time.Second)
	gone(t, lastPID(j))

	d = startDaemon(t, addr, dataDir, f, delay...)
	j = waitFor(t, c, a.ID, 30*time.Second, "resumed", func(j *api.Job) bool {
		return len(j.Attempts) == 2 && lastPID(j) > 0 && j.Progress.Epoch >= 5
	})
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Errorf("graft serve after SIGTERM: %v", err)
	}
	gone(t, lastPID(j))

	d = startDaemon(t, addr, dataDir, f)
	a, b = waitFinal(t, c, a.ID), waitFinal(t, c, b.ID)
	if a.State != api.Succeeded || b.State != api.Succeeded {
		t.Fatalf("a %s (%s), b %s (%s)", a.State, a.Error, b.State, b.Error)
	}
	if len(a.Attempts) != 3 || !a.Attempts[1].Resumed || !a.Attempts[2].Resumed ||
		a.Attempts[0].Exit != api.ExitInterrupted || a.Attempts[1].Exit != api.ExitInterrupted || a.Attempts[2].Exit != api.ExitSucceeded {
		t.Errorf("attempts of a: %+v", a.Attempts)
	}
	jobs, err := c.Jobs(ctx)
	if err != nil || len(jobs) != 2 || jobs[0].ID != a.ID || jobs[1].ID != b.ID {
		t.Fatalf("jobs %+v, err %v", jobs, err)
	}
	runs, _ := os.ReadDir(filepath.Join(dataDir, "runs"))
	if len(runs) != 2 {
		t.Errorf("%d run directories for 2 jobs", len(runs))
	}
	ms, _ := c.Models(ctx)
	if len(ms) != 2 {
		t.Errorf("%d models for 2 jobs: %+v", len(ms), ms)
	}
	sameWeights(t, a.RunDir, reqA)

	// Every path the daemon wrote is under its data directory.
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d.wait(t, 15*time.Second); err != nil {
		t.Errorf("graft serve after SIGTERM: %v", err)
	}
	filepath.Walk(f.data, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && !strings.HasSuffix(p, ".png") {
			t.Errorf("the daemon wrote %s into the data", p)
		}
		return nil
	})
}
