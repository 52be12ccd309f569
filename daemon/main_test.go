package daemon_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/buildinfo"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// graftBin is the real graft binary, built once: the daemon runs it as
// its worker, and some tests run `graft serve` itself.
var graftBin string

func TestMain(m *testing.M) {
	os.Exit(buildinfo.WithGraft("..", func(bin string) int {
		graftBin = bin
		return m.Run()
	}))
}

var backboneDir, _ = filepath.Abs("../testdata/models/fashion_cnn")

// fixture is the data of a test: MNIST digits and the allowed roots.
type fixture struct {
	data  string
	roots []string
}

func newFixture(t testing.TB, perClass int) fixture {
	data := testmodules.Digits(t, "train", 0, perClass)
	return fixture{data: data, roots: []string{filepath.Dir(backboneDir), data}}
}

// spec is a tiny job: 5 digits per class train in well under a second.
func (f fixture) spec(epochs int) api.JobRequest {
	return api.JobRequest{JobSpec: api.JobSpec{Backbone: backboneDir, Tap: "conv2d_2", Data: f.data, Preprocess: "unit",
		Head: "conv:16", Epochs: api.Ptr(epochs), BatchSize: api.Ptr(16), Seed: api.Ptr[uint64](3)}}
}

// testServer is an in-process daemon on a loopback port.
type testServer struct {
	*client.Client
	dir  string
	stop func()
}

func startServer(t testing.TB, o daemon.Options) *testServer {
	t.Helper()
	if o.DataDir == "" {
		o.DataDir = filepath.Join(t.TempDir(), "data")
	}
	if o.WorkerPath == "" {
		o.WorkerPath = graftBin
	}
	if o.Log == nil {
		o.Log = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	if o.Backoff == 0 {
		o.Backoff = 50 * time.Millisecond
	}
	s, err := daemon.New(o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()
	ts := &testServer{Client: client.New(ln.Addr().String(), o.Token), dir: o.DataDir}
	stopped := false
	ts.stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	}
	t.Cleanup(ts.stop)
	return ts
}

// waitFor polls job id until cond holds, failing after timeout.
func waitFor(t *testing.T, c *client.Client, id string, timeout time.Duration, what string, cond func(*api.Job) bool) *api.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := c.Job(context.Background(), id)
		if err == nil && cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: not %s after %v (last: %+v, err %v)", id, what, timeout, j, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitFinal(t *testing.T, c *client.Client, id string) *api.Job {
	t.Helper()
	return waitFor(t, c, id, 90*time.Second, "ended", func(j *api.Job) bool { return j.State.Final() })
}

// params are the head parameters of a checkpoint file.
func params(t *testing.T, path string) []float32 {
	t.Helper()
	m, _, err := head.Load(head.NewCPUOps(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	p, err := m.Params()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameWeights checks that a run's final head equals the one of an
// uninterrupted in-process run of the same spec.
func sameWeights(t *testing.T, runDir string, req api.JobRequest) {
	t.Helper()
	cfg, err := job.New(req.JobSpec, job.Where{Out: filepath.Join(t.TempDir(), "ref"), CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := train.RunJob(context.Background(), cfg, train.Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{rundir.HeadFile, rundir.LastCkpt} {
		a, b := params(t, filepath.Join(runDir, f)), params(t, filepath.Join(cfg.Out, f))
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d parameters", f, len(a), len(b))
		}
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s: parameter %d is %v after the interruption, %v without", f, i, a[i], b[i])
			}
		}
	}
}

// lastPID is the pid of the job's running attempt.
func lastPID(j *api.Job) int {
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].End == nil {
		return j.Attempts[n-1].PID
	}
	return 0
}

func apiStatus(err error) int {
	var e *client.Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
