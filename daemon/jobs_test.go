package daemon_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// Submit, stream the events, succeed, and predict through the API: the
// classes equal `graft predict --run`.
func TestSubmitEventsPredict(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	req := f.spec(3)
	req.Model = "digits"
	j, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	var evs []api.JobEvent
	if _, err := s.Events(ctx, j.ID, 0, true, func(e api.JobEvent) error { evs = append(evs, e); return nil }); err != nil {
		t.Fatal(err)
	}
	var types []string
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("event %d has seq %d", i, e.Seq)
		}
		types = append(types, e.Type)
	}
	for _, want := range []string{"queued", "attempt", "features", "epoch", "done", "succeeded"} {
		if !slices.Contains(types, want) {
			t.Errorf("events %v lack %q", types, want)
		}
	}
	if types[len(types)-1] != "succeeded" {
		t.Errorf("the stream ended with %q", types[len(types)-1])
	}
	// Resuming with Last-Event-ID sends only what follows.
	var again []api.JobEvent
	if _, err := s.Events(ctx, j.ID, 4, true, func(e api.JobEvent) error { again = append(again, e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(again) != len(evs)-4 || again[0].Seq != 5 {
		t.Errorf("after 4: got %d events from seq %d, want %d from 5", len(again), again[0].Seq, len(evs)-4)
	}

	j, err = s.Job(ctx, j.ID)
	if err != nil || j.State != api.Succeeded || j.Version != 1 || j.Summary == nil {
		t.Fatalf("job %+v, err %v", j, err)
	}
	ms, err := s.Models(ctx)
	if err != nil || len(ms) != 1 || ms[0].Name != "digits" || len(ms[0].Classes) != 10 {
		t.Fatalf("models %+v, err %v", ms, err)
	}

	var paths []string
	var imgs []api.Image
	for _, d := range []string{"1", "4", "7"} {
		ps, _ := filepath.Glob(filepath.Join(f.data, d, "*.png"))
		for _, p := range ps[:2] {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			paths = append(paths, p)
			imgs = append(imgs, api.Image{B64: base64.StdEncoding.EncodeToString(b)})
		}
	}
	res, err := s.Predict(ctx, "digits", 0, api.PredictRequest{Instances: imgs})
	if err != nil {
		t.Fatal(err)
	}
	byVersion, err := s.Predict(ctx, "digits", 1, api.PredictRequest{Inputs: imgs})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Predictions) != len(imgs) || len(byVersion.Outputs) != len(imgs) {
		t.Fatalf("%d predictions and %d outputs for %d images", len(res.Predictions), len(byVersion.Outputs), len(imgs))
	}
	out, err := exec.Command(graftBin, append([]string{"predict", "--run", j.RunDir, "--format", "jsonl", "--top", "1", "--log-format", "json"}, paths...)...).Output()
	if err != nil {
		t.Fatalf("graft predict: %v", err)
	}
	sc := bufio.NewScanner(bytesReader(out))
	for i := 0; sc.Scan(); i++ {
		var line struct{ Top []struct{ Label string } }
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || len(line.Top) != 1 {
			t.Fatalf("graft predict line %q", sc.Text())
		}
		api1 := ms[0].Classes[predict.TopK(res.Predictions[i], 1)[0].Index]
		api2 := ms[0].Classes[predict.TopK(byVersion.Outputs[i], 1)[0].Index]
		if api1 != line.Top[0].Label || api2 != line.Top[0].Label {
			t.Errorf("image %d: API says %s/%s, graft predict --run says %s", i, api1, api2, line.Top[0].Label)
		}
		// The answer names the class itself, in either form.
		if res.Classes[i] != line.Top[0].Label || byVersion.Classes[i] != line.Top[0].Label {
			t.Errorf("image %d: the answer's classes say %s/%s, graft predict --run says %s", i, res.Classes[i], byVersion.Classes[i], line.Top[0].Label)
		}
	}
	if !slices.Equal(res.ClassNames, ms[0].Classes) || !slices.Equal(byVersion.ClassNames, ms[0].Classes) || len(res.Classes) != len(imgs) {
		t.Errorf("class_names %v and %v, want the model's %v; %d classes for %d images", res.ClassNames, byVersion.ClassNames, ms[0].Classes, len(res.Classes), len(imgs))
	}

	// A broken image is the client's fault.
	_, err = s.Predict(ctx, "digits", 0, api.PredictRequest{Instances: []api.Image{{B64: "bm90IGFuIGltYWdl"}}})
	if apiStatus(err) != 400 {
		t.Errorf("a non-image: %v, want 400", err)
	}
	_, err = s.Predict(ctx, "nosuch", 0, api.PredictRequest{Instances: imgs})
	if apiStatus(err) != 404 {
		t.Errorf("an unknown model: %v, want 404", err)
	}
}

// kill -9 of a worker mid-run: the job resumes from its last checkpoint,
// succeeds, and ends with the weights of an uninterrupted run.
func TestWorkerKilledResumes(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, WorkerArgs: []string{"--step-delay", "40ms"}})
	ctx := context.Background()
	req := f.spec(6)
	j, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	j = waitFor(t, s.Client, j.ID, 30*time.Second, "past epoch 2", func(j *api.Job) bool { return j.Progress.Epoch >= 3 && lastPID(j) > 0 })
	if err := syscall.Kill(lastPID(j), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Succeeded {
		t.Fatalf("job %s: %s (%s)", j.ID, j.State, j.Error)
	}
	if len(j.Attempts) != 2 || j.Attempts[0].Exit != api.ExitCrashed || !j.Attempts[1].Resumed || j.Attempts[1].Exit != api.ExitSucceeded {
		t.Fatalf("attempts %+v", j.Attempts)
	}
	ms, _ := rundir.ReadMetrics(j.RunDir)
	if len(ms) != 6 {
		t.Errorf("metrics.jsonl has %d epochs, want 6", len(ms))
	}
	sameWeights(t, j.RunDir, req)
}

// Cancelling a running job stops its worker: cancelled, attempt recorded.
// A queued job is cancelled at once. A finished job answers 409.
func TestCancel(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, WorkerArgs: []string{"--step-delay", "50ms"}, Grace: 5 * time.Second})
	ctx := context.Background()
	a, err := s.Submit(ctx, f.spec(50))
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if b, err = s.Cancel(ctx, b.ID); err != nil || b.State != api.Cancelled {
		t.Fatalf("queued job: %+v, %v", b, err)
	}
	waitFor(t, s.Client, a.ID, 30*time.Second, "training", func(j *api.Job) bool { return j.Progress.Epoch >= 1 })
	if _, err := s.Cancel(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	a = waitFinal(t, s.Client, a.ID)
	if a.State != api.Cancelled || len(a.Attempts) != 1 || a.Attempts[0].Exit != api.ExitCancelled {
		t.Fatalf("running job: %s, attempts %+v", a.State, a.Attempts)
	}
	if _, err := s.Cancel(ctx, a.ID); apiStatus(err) != 409 {
		t.Errorf("cancel of a cancelled job: %v, want 409", err)
	}
	if _, err := s.Cancel(ctx, "job-999999"); apiStatus(err) != 404 {
		t.Errorf("cancel of no job: %v, want 404", err)
	}
}

// A worker that keeps dying is retried with backoff, then the job fails
// with the reason, every attempt recorded.
func TestCrashingWorkerFails(t *testing.T) {
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxAttempts: 3, WorkerArgs: []string{"--step-delay", "1h"}})
	ctx := context.Background()
	j, err := s.Submit(ctx, f.spec(2))
	if err != nil {
		t.Fatal(err)
	}
	for n := 1; n <= 3; n++ {
		j = waitFor(t, s.Client, j.ID, 30*time.Second, "running attempt", func(j *api.Job) bool { return len(j.Attempts) == n && lastPID(j) > 0 && j.Progress.Step > 0 })
		syscall.Kill(lastPID(j), syscall.SIGKILL)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Failed || len(j.Attempts) != 3 || j.Error == "" {
		t.Fatalf("job %s (%q), attempts %+v", j.State, j.Error, j.Attempts)
	}
	for _, a := range j.Attempts {
		if a.Exit != api.ExitCrashed || a.End == nil || a.Reason == "" {
			t.Errorf("attempt %+v", a)
		}
	}
	t.Logf("failed: %s", j.Error)
}

// A worker that reports an error (here: the data vanished after the job
// was accepted) fails the job at once with its message.
func TestWorkerErrorFails(t *testing.T) {
	f := newFixture(t, 5)
	other := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, other.data), MaxConcurrent: 1, WorkerArgs: []string{"--step-delay", "30ms"}})
	ctx := context.Background()
	blocker, err := s.Submit(ctx, f.spec(4))
	if err != nil {
		t.Fatal(err)
	}
	req := f.spec(2)
	req.Head = "conv:16"
	req.Data = other.data
	j, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	for d := range 9 { // one class left: too few to train
		if err := os.RemoveAll(filepath.Join(other.data, strconv.Itoa(d))); err != nil {
			t.Fatal(err)
		}
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Failed || len(j.Attempts) != 1 || j.Attempts[0].Exit != api.ExitError || j.Error == "" {
		t.Fatalf("job %s (%q), attempts %+v", j.State, j.Error, j.Attempts)
	}
	waitFinal(t, s.Client, blocker.ID)
}

// 50 concurrent submissions against a queue of 10: each gets 201 or 429,
// every accepted job succeeds, and the database and run directories agree.
// (All 50 are checked at once: the queue is what this test is about.)
func TestConcurrentSubmissions(t *testing.T) {
	f := newFixture(t, 3)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, QueueSize: 10, MaxConcurrent: 2, MaxConcurrentSubmissions: 50})
	ctx := context.Background()
	var mu sync.Mutex
	var accepted []string
	rejected := 0
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := s.Submit(ctx, f.spec(1))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				accepted = append(accepted, j.ID)
			case apiStatus(err) == 429:
				rejected++
			default:
				t.Errorf("submission: %v", err)
			}
		}()
	}
	wg.Wait()
	t.Logf("%d accepted, %d rejected", len(accepted), rejected)
	if len(accepted)+rejected != 50 || len(accepted) < 10 || rejected == 0 {
		t.Fatalf("%d accepted, %d rejected", len(accepted), rejected)
	}
	for _, id := range accepted {
		if j := waitFinal(t, s.Client, id); j.State != api.Succeeded {
			t.Errorf("job %s: %s (%s)", id, j.State, j.Error)
		}
	}
	jobs, err := s.Jobs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, j := range jobs {
		ids = append(ids, j.ID)
		if _, err := os.Stat(filepath.Join(j.RunDir, rundir.SummaryFile)); err != nil {
			t.Errorf("job %s: %v", j.ID, err)
		}
	}
	slices.Sort(accepted)
	if !slices.Equal(ids, accepted) {
		t.Errorf("the store holds %v, accepted were %v", ids, accepted)
	}
	runs, _ := os.ReadDir(filepath.Join(s.dir, "runs"))
	if len(runs) != len(accepted) {
		t.Errorf("%d run directories for %d jobs", len(runs), len(accepted))
	}
	ms, _ := s.Models(ctx)
	if len(ms) != len(accepted) {
		t.Errorf("%d models for %d jobs", len(ms), len(accepted))
	}
}
