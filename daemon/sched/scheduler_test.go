package sched

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/internal/run/worker"
)

// heldLauncher starts workers that run until the test ends them.
type heldLauncher struct {
	mu       sync.Mutex
	launched []string // job ids in launch order
	workers  map[string]*heldWorker
	started  chan string
	onLaunch func(id string)
}

type heldWorker struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	exit chan worker.Exit
}

func (l *heldLauncher) Launch(in worker.Launch) (worker.Handle, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	r, w := io.Pipe()
	hw := &heldWorker{r: r, w: w, exit: make(chan worker.Exit, 1)}
	l.launched = append(l.launched, in.JobID)
	if l.onLaunch != nil {
		l.onLaunch(in.JobID)
	}
	l.workers[in.JobID] = hw
	l.started <- in.JobID
	return hw, nil
}

// end makes job id's worker report line and exit with e.
func (l *heldLauncher) end(id, line string, e worker.Exit) {
	l.mu.Lock()
	hw := l.workers[id]
	l.mu.Unlock()
	fmt.Fprintln(hw.w, line)
	hw.w.Close()
	hw.exit <- e
}

func (w *heldWorker) Events() io.Reader { return w.r }
func (w *heldWorker) PID() int          { return 0 }
func (w *heldWorker) Terminate()        {}
func (w *heldWorker) Kill()             {}
func (w *heldWorker) Wait() worker.Exit { return <-w.exit }

// noHub and noMetrics are joins that record nothing: the test reads the
// store.
type noHub struct{}

func (noHub) Notify(string, []api.JobEvent) {}

type noMetrics struct{}

func (noMetrics) SetQueue(int, int)                      {}
func (noMetrics) SetGPUClaimed(int64)                    {}
func (noMetrics) ObserveStep(string, time.Duration, int) {}
func (noMetrics) JobEnded(string)                        {}
func (noMetrics) AttemptStarted()                        {}
func (noMetrics) AttemptEnded(string)                    {}

// The scheduler and its supervisors run on their joins alone (a store, a
// hub, metrics and a launcher; no HTTP): a GPU job waits while the GPU
// budget is claimed and lets a CPU job pass, and starts when the claim
// ends; a worker's reported error fails its job with the message.
func TestSchedulerOnItsJoins(t *testing.T) {
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "graft.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l := &heldLauncher{workers: map[string]*heldWorker{}, started: make(chan string, 8)}
	d := &Joins{Store: st, Hub: noHub{}, Metrics: noMetrics{}, Launcher: l, Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel)), DataDir: dir,
		Limits: Limits{MaxConcurrent: 2, QueueSize: 8, MaxAttempts: 1, Backoff: time.Millisecond, Grace: time.Second, GPUMemoryBudget: 100}}
	q := New(d)
	submit := func(device api.Device, gpu int64) string {
		j := &api.Job{Spec: api.RunSpec{Device: device, BatchSize: 1}, GPUBytes: gpu}
		if err := q.Submit(j, func(j *api.Job) { j.RunDir = filepath.Join(dir, "runs", j.ID) }); err != nil {
			t.Fatal(err)
		}
		return j.ID
	}
	// wait takes the next launches, in any order (supervisors start
	// concurrently).
	wait := func(want ...string) {
		t.Helper()
		got := map[string]bool{}
		for range want {
			select {
			case id := <-l.started:
				got[id] = true
			case <-time.After(10 * time.Second):
				t.Fatalf("launched %v, want %v", got, want)
			}
		}
		for _, id := range want {
			if !got[id] {
				t.Fatalf("launched %v, want %v", got, want)
			}
		}
	}
	// a's state as b starts (b must wait for a's end), noted by the
	// launcher under its lock.
	var a, b string
	var aWhenB api.State
	l.onLaunch = func(id string) {
		if id == b {
			if j, err := st.Job(a); err == nil {
				aWhenB = j.State
			}
		}
	}
	l.mu.Lock() // the ids are the store's, known once submitted
	a, b = "job-000001", "job-000002"
	l.mu.Unlock()
	if a2, b2 := submit(api.MustDevice("cuda:0"), 60), submit(api.MustDevice("cuda:0"), 60); a2 != a || b2 != b {
		t.Fatalf("job ids %s %s, want %s %s", a2, b2, a, b)
	}
	c := submit(api.MustDevice("cpu"), 0)
	wait(a, c) // b waits for the GPU budget; c passes it
	select {
	case id := <-l.started:
		t.Fatalf("%s launched while the GPU budget is claimed", id)
	case <-time.After(100 * time.Millisecond):
	}
	l.end(a, `{"event":"error","message":"the data vanished"}`, worker.Exit{Err: errors.New("exit status 1")})
	wait(b)
	j, err := st.Job(a)
	if err != nil {
		t.Fatal(err)
	}
	for !j.State.Final() { // the supervisor records the end after the launch of b may already have happened
		time.Sleep(10 * time.Millisecond)
		if j, err = st.Job(a); err != nil {
			t.Fatal(err)
		}
	}
	l.mu.Lock()
	if aWhenB != api.Failed {
		t.Errorf("job %s started while %s was %s: the GPU budget holds one of them", b, a, aWhenB)
	}
	l.mu.Unlock()
	if j.State != api.Failed || j.Error != "the data vanished" || len(j.Attempts) != 1 || j.Attempts[0].Exit != api.ExitError {
		t.Errorf("job %s: %s (%q), attempts %+v", a, j.State, j.Error, j.Attempts)
	}
	l.end(b, `{"event":"error","message":"x"}`, worker.Exit{Err: errors.New("exit status 1")})
	l.end(c, `{"event":"error","message":"x"}`, worker.Exit{Err: errors.New("exit status 1")})
	q.Shutdown()
}
