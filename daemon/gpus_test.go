package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/internal/base/devices"
	"github.com/graft-ml/graft/internal/run/worker"
)

// heldLauncher starts workers that run until released, and reports each
// start (job id and device) on started.
type heldLauncher struct {
	mu      sync.Mutex
	workers map[string]*heldWorker
	started chan worker.Launch
}

type heldWorker struct {
	r    *io.PipeReader
	w    *io.PipeWriter
	once sync.Once
	done chan struct{}
}

func (l *heldLauncher) Launch(in worker.Launch) (worker.Handle, error) {
	r, w := io.Pipe()
	hw := &heldWorker{r: r, w: w, done: make(chan struct{})}
	l.mu.Lock()
	l.workers[in.JobID] = hw
	l.mu.Unlock()
	l.started <- in
	return hw, nil
}

// release ends job id's worker with an error report.
func (l *heldLauncher) release(id string) {
	l.mu.Lock()
	hw := l.workers[id]
	l.mu.Unlock()
	hw.end()
}

func (w *heldWorker) end() {
	w.once.Do(func() {
		go func() {
			io.WriteString(w.w, `{"event":"error","message":"released"}`+"\n")
			w.w.Close()
			close(w.done)
		}()
	})
}

func (w *heldWorker) Events() io.Reader { return w.r }
func (w *heldWorker) PID() int          { return 0 }
func (w *heldWorker) Terminate()        { w.end() }
func (w *heldWorker) Kill()             { w.end() }
func (w *heldWorker) Wait() worker.Exit {
	<-w.done
	return worker.Exit{Err: errors.New("exit status 1")}
}

// gpusOf is machine's GPUs as the daemon reads them: the JSON graft-cuda
// devices prints, read back as internal/base/devices does.
func gpusOf(t *testing.T, m *gputest.Machine) []devices.Device {
	t.Helper()
	list, err := m.Devices()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	var out []devices.Device
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// Admission per GPU on two-GPU hosts (gpu/gputest's canned machines):
// jobs that fit one to a GPU run two at once, one on each; a third waits
// for the first GPU to free; a job naming cuda:1 waits for GPU 1 even
// while GPU 0 has room; cuda:2 is refused with a device field error. Once
// with a budget that caps two 80 GB H100s to one job each, once with two
// GPUs whose own memory holds one job each and no budget.
func TestAdmissionPerGPU(t *testing.T) {
	f := newFixture(t, 2)
	req := f.spec(1)
	req.Device = api.MustDevice("auto")
	fp := footprintOf(t, req.JobSpec)
	oneJob := fp.Resident() + fp.Resident()/2 // one job fits, two do not
	two, err := gputest.TwoH100s()
	if err != nil {
		t.Fatal(err)
	}
	small := gputest.Device{Name: "small", MemoryBytes: oneJob}
	smalls, err := gputest.NewMachine(small, small)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name    string
		machine *gputest.Machine
		budget  int64
	}{
		{"budget caps two H100s", two, oneJob},
		{"memory of two small GPUs", smalls, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := &heldLauncher{workers: map[string]*heldWorker{}, started: make(chan worker.Launch, 8)}
			s := startServer(t, daemon.Options{AllowRoots: f.roots, Launcher: l, CUDAWorkerPath: "unused", MaxConcurrent: 4,
				GPUMemoryBudget: c.budget, GPUs: gpusOf(t, c.machine)})
			ctx := context.Background()
			submit := func(device string) string {
				t.Helper()
				r := req
				r.Device = api.MustDevice(device)
				j, err := s.Submit(ctx, r)
				if err != nil {
					t.Fatal(err)
				}
				return j.ID
			}
			// started takes the next start: which job, on which GPU.
			started := func() (string, string) {
				t.Helper()
				select {
				case in := <-l.started:
					return in.JobID, in.Spec.Device.String()
				case <-time.After(10 * time.Second):
					t.Fatal("no job started")
				}
				return "", ""
			}
			none := func(why string) {
				t.Helper()
				select {
				case in := <-l.started:
					t.Fatalf("%s started on %s: %s", in.JobID, in.Spec.Device, why)
				case <-time.After(200 * time.Millisecond):
				}
			}

			r := req
			r.Device = api.MustDevice("cuda:2")
			_, err := s.Submit(ctx, r)
			var ce *client.Error
			if !errors.As(err, &ce) || ce.Status != 422 || len(ce.Fields) != 1 || ce.Fields[0].Field != "device" ||
				!strings.Contains(ce.Fields[0].Message, "cuda:0 to cuda:1") {
				t.Fatalf("cuda:2 on a two-GPU host: %v, want a 422 device field error naming cuda:0 to cuda:1", err)
			}

			a, b := submit("auto"), submit("auto")
			on := map[string]string{}
			for range 2 {
				id, dev := started()
				on[id] = dev
			}
			if on[a] != "cuda:0" || on[b] != "cuda:1" {
				t.Fatalf("two jobs that fit one to a GPU: started %v, want %s on cuda:0 and %s on cuda:1", on, a, b)
			}
			third := submit("auto")
			none("both GPUs are full")
			l.release(a)
			if id, dev := started(); id != third || dev != "cuda:0" {
				t.Fatalf("after GPU 0 freed: %s started on %s, want %s on cuda:0", id, dev, third)
			}
			l.release(third)
			fourth := submit("cuda:1")
			none("GPU 1 is full (GPU 0 has room, but the job asked for GPU 1)")
			l.release(b)
			if id, dev := started(); id != fourth || dev != "cuda:1" {
				t.Fatalf("after GPU 1 freed: %s started on %s, want %s on cuda:1", id, dev, fourth)
			}
			l.release(fourth)
			for _, id := range []string{a, b, third, fourth} {
				waitFinal(t, s.Client, id)
			}
		})
	}

	// A GPU whose own memory cannot hold the job even streamed: refused,
	// naming the GPU and its memory (no budget is set).
	tiny, err := gputest.NewMachine(gputest.Device{MemoryBytes: fp.Streaming() - 1})
	if err != nil {
		t.Fatal(err)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Launcher: &heldLauncher{}, CUDAWorkerPath: "unused", GPUs: gpusOf(t, tiny)})
	r := req
	r.Device = api.MustDevice("cuda:0")
	_, err = s.Submit(context.Background(), r)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status != 422 || len(ce.Fields) != 1 || ce.Fields[0].Field != "device" ||
		!strings.Contains(ce.Fields[0].Message, "on cuda:0 (its memory)") {
		t.Errorf("a job over its GPU's memory: %v, want a 422 device field error naming cuda:0's memory", err)
	}
}
