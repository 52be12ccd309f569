package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/run/worker"
)

// scriptLauncher is a launcher that runs no process: attempt n's worker
// writes lines[n-1] and ends with exits[n-1]. It records what it got.
type scriptLauncher struct {
	mu       sync.Mutex
	got      []worker.Launch
	lines    [][]string
	exits    []worker.Exit
	startErr error
}

func (l *scriptLauncher) Launch(in worker.Launch) (worker.Handle, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, in)
	if l.startErr != nil {
		return nil, l.startErr
	}
	n := len(l.got) - 1
	return &scriptWorker{events: strings.NewReader(strings.Join(l.lines[n], "\n") + "\n"), exit: l.exits[n]}, nil
}

func (l *scriptLauncher) launches() []worker.Launch {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]worker.Launch(nil), l.got...)
}

type scriptWorker struct {
	events io.Reader
	exit   worker.Exit
}

func (w *scriptWorker) Events() io.Reader { return w.events }
func (w *scriptWorker) PID() int          { return 0 }
func (w *scriptWorker) Terminate()        {}
func (w *scriptWorker) Kill()             {}
func (w *scriptWorker) Wait() worker.Exit { return w.exit }

// The supervisor runs every attempt through Options.Launcher: what the
// launcher gets (job, attempt, kind, the spec as the worker reads it, the
// footprint), and how the ends it reports are judged: a signalled end is
// a crash and retried, a reported error with an error exit fails the job.
func TestLauncherSeam(t *testing.T) {
	f := newFixture(t, 2)
	l := &scriptLauncher{
		lines: [][]string{
			{`{"event":"step","epoch":1,"epochs":1,"step":1,"steps":2,"loss":2.3}`},
			{`{"event":"error","message":"the data vanished"}`},
		},
		exits: []worker.Exit{
			{Err: errors.New("signal: killed"), Signaled: true},
			{Err: errors.New("exit status 1")},
		},
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Launcher: l, CUDAWorkerPath: "unused", GPUMemoryBudget: 1 << 40})
	req := f.spec(1)
	req.Device = api.MustDevice("cuda:1")
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Failed || j.Error != "the data vanished" || len(j.Attempts) != 2 ||
		j.Attempts[0].Exit != api.ExitCrashed || j.Attempts[1].Exit != api.ExitError {
		t.Fatalf("job %s (%q), attempts %+v", j.State, j.Error, j.Attempts)
	}
	got := l.launches()
	if len(got) != 2 {
		t.Fatalf("%d launches, want 2", len(got))
	}
	for i, in := range got {
		if in.JobID != j.ID || in.Attempt != i+1 || in.Kind != worker.CUDA || in.GPUBytes <= 0 || in.HostBytes <= 0 || in.Log == nil {
			t.Errorf("launch %d: %+v", i+1, in)
		}
		wi, err := worker.Decode(bytes.NewReader(in.Input))
		if err != nil {
			t.Fatalf("launch %d: input %s: %v", i+1, in.Input, err)
		}
		spec := wi.Spec
		if wi.Version != api.Version || wi.Job != j.ID || wi.Log.Format != "json" || wi.Resume ||
			spec.Out != j.RunDir || in.Spec.Out != j.RunDir || spec.Device != api.MustDevice("cuda:1") || spec.Data != f.data {
			t.Errorf("launch %d: input %s; want the run directory %s", i+1, in.Input, j.RunDir)
		}
	}
}

// A launcher that cannot start a worker for lack of a resource defers the
// attempt, which does not count against the job.
func TestLauncherDeferred(t *testing.T) {
	f := newFixture(t, 2)
	l := &scriptLauncher{startErr: fmt.Errorf("cluster: %w", syscall.ENOMEM)}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Launcher: l, MaxAttempts: 1})
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	j = waitFor(t, s.Client, j.ID, 30*time.Second, "deferred twice", func(j *api.Job) bool { return len(j.Attempts) >= 2 })
	if j.State.Final() || j.Attempts[0].Exit != api.ExitDeferred || j.Attempts[0].PID != 0 {
		t.Fatalf("job %s, attempts %+v", j.State, j.Attempts)
	}
	if got := l.launches(); got[0].Kind != worker.CPU {
		t.Errorf("kind %q, want cpu", got[0].Kind)
	}
}
