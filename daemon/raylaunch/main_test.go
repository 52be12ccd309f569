package raylaunch_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/daemon/raylaunch"
	"github.com/graft-ml/graft/internal/base/buildinfo"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/run/worker"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// rayAddress is the Ray cluster the tests run on: the head node's
// dashboard that `make test-ray` starts and exports.
var rayAddress = os.Getenv("GRAFT_RAY_ADDRESS")

// graftBin is the real graft binary, the workers the Ray nodes run.
var graftBin string

func TestMain(m *testing.M) {
	if rayAddress == "" {
		os.Exit(m.Run()) // every test skips
	}
	os.Exit(buildinfo.WithGraft("../..", func(bin string) int {
		graftBin = bin
		return m.Run()
	}))
}

// ray is a client of the test cluster; without one the test skips.
func ray(t testing.TB) *raylaunch.Client {
	t.Helper()
	if rayAddress == "" {
		t.Skip("no Ray cluster: make test-ray starts a two-node Ray on this machine and runs these tests (GRAFT_RAY_ADDRESS=http://HEAD:8265 for one of your own)")
	}
	c, err := raylaunch.New(rayAddress)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// nodeName is the name of the Ray node with id id.
func nodeName(t testing.TB, c *raylaunch.Client, id string) string {
	t.Helper()
	nodes, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if n.ID == id {
			return n.Name
		}
	}
	t.Fatalf("no node %s in %+v", id, nodes)
	return ""
}

// waitRay waits until the Ray job's state satisfies cond.
func waitRay(t testing.TB, c *raylaunch.Client, id string, timeout time.Duration, cond func(*raylaunch.JobInfo) bool) *raylaunch.JobInfo {
	t.Helper()
	return poll(t, "ray job "+id, "as wanted", timeout, func() (*raylaunch.JobInfo, error) { return c.Job(context.Background(), id) }, cond)
}

// poll calls get until its value satisfies cond, failing t after timeout.
func poll[T any](t testing.TB, name, what string, timeout time.Duration, get func() (T, error), cond func(T) bool) T {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		v, err := get()
		if err == nil && cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not %s after %v (last: %+v, err %v)", name, what, timeout, v, err)
		}
	}
}

var backboneDir, _ = filepath.Abs("../../testdata/models/fashion_cnn")

// spec is a small job: 5 digits per class, a few epochs.
func spec(data string, epochs int) api.JobRequest {
	return api.JobRequest{JobSpec: api.JobSpec{Backbone: backboneDir, Tap: "conv2d_2", Data: data, Preprocess: "unit",
		Head: "conv:16", Epochs: api.Ptr(epochs), BatchSize: api.Ptr(16), Seed: api.Ptr[uint64](3)}}
}

func digits(t testing.TB) string { return testmodules.Digits(t, "train", 0, 5) }

// startDaemon runs an in-process daemon on a loopback port; rl nil
// means the local launcher.
func startDaemon(t testing.TB, data string, rl worker.Launcher, stepDelay time.Duration) (*client.Client, string) {
	t.Helper()
	o := daemon.Options{DataDir: filepath.Join(t.TempDir(), "data"), AllowRoots: []string{filepath.Dir(backboneDir), data},
		WorkerPath: graftBin, Launcher: rl, Backoff: 50 * time.Millisecond,
		Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))}
	if stepDelay > 0 {
		o.WorkerArgs = []string{"--step-delay", stepDelay.String()}
	}
	if l, ok := rl.(*raylaunch.Launcher); ok {
		l.Args = o.WorkerArgs
		var err error
		if l.DaemonID, err = raylaunch.DaemonID(o.DataDir); err != nil {
			t.Fatal(err)
		}
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
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
	})
	return client.New(ln.Addr().String(), ""), o.DataDir
}

func launcher(c *raylaunch.Client) *raylaunch.Launcher {
	return &raylaunch.Launcher{Client: c, CPUPath: graftBin, Poll: 200 * time.Millisecond}
}

// waitJob polls the daemon's job until cond holds.
func waitJob(t testing.TB, c *client.Client, id string, timeout time.Duration, what string, cond func(*api.Job) bool) *api.Job {
	t.Helper()
	return poll(t, "job "+id, what, timeout, func() (*api.Job, error) { return c.Job(context.Background(), id) }, cond)
}

func final(j *api.Job) bool { return j.State.Final() }

// checkpointed: the job's run holds its first epoch's checkpoint.
func checkpointed(j *api.Job) bool {
	_, err := os.Stat(filepath.Join(j.RunDir, rundir.LastCkpt))
	return j.State == api.Running && err == nil
}

// workerPIDs are the processes running `graft worker --job id`.
func workerPIDs(id string) []int {
	var pids []int
	ds, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, d := range ds {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) > 3 && args[0] == graftBin && args[1] == "worker" && args[2] == "--job" && args[3] == id {
			var pid int
			fmt.Sscanf(filepath.Base(filepath.Dir(d)), "%d", &pid)
			pids = append(pids, pid)
		}
	}
	return pids
}

func killWorker(t testing.TB, id string) {
	t.Helper()
	pids := workerPIDs(id)
	if len(pids) != 1 {
		t.Fatalf("want one worker process of %s, found %v", id, pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
}

// childNamed is the child of process ppid whose command is name.
func childNamed(ppid int, name string) int {
	ds, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, d := range ds {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...
		s := string(b)
		i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if i < 0 || j < i {
			continue
		}
		var state string
		var pid, pp int
		fmt.Sscanf(s[:i], "%d", &pid)
		fmt.Sscanf(s[j+1:], " %s %d", &state, &pp)
		if pp == ppid && s[i+1:j] == name {
			return pid
		}
	}
	return 0
}

// sameHead checks a run's head.safetensors against the local
// launcher's, byte for byte, and shows both runs' losses when not.
func sameHead(t testing.TB, runDir string, want []byte, what string) {
	t.Helper()
	if got := readFile(t, filepath.Join(runDir, rundir.HeadFile)); !bytes.Equal(got, want) {
		m, _ := os.ReadFile(filepath.Join(runDir, "metrics.jsonl"))
		t.Errorf("head.safetensors %s differs from the local launcher's uninterrupted run's\nits metrics:\n%s\nthe local run's:\n%s", what, m, reference.metrics)
	}
}

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
