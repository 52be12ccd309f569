package raylaunch_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/raylaunch"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// noiseImages writes n seeded 28x28 grey PNGs into two class folders.
func noiseImages(t *testing.T, n int) string {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 11))
	for i := range n {
		class := filepath.Join(dir, fmt.Sprintf("c%d", i%2))
		os.MkdirAll(class, 0o755)
		img := image.NewGray(image.Rect(0, 0, 28, 28))
		for p := range img.Pix {
			img.Pix[p] = uint8(r.IntN(256))
		}
		if i%2 == 1 { // a brighter class: something to learn
			img.Set(0, 0, color.Gray{Y: 255})
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		if err := os.WriteFile(filepath.Join(class, fmt.Sprintf("%05d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// addNode starts a Ray node of the test's own (name, one CPU) in the
// cluster of make test-ray and returns the PID of its `ray start
// --block`; the node is torn down at the end.
func addNode(t *testing.T, c *raylaunch.Client, name string) int {
	bin, gcs := os.Getenv("GRAFT_RAY_BIN"), os.Getenv("GRAFT_RAY_GCS")
	if bin == "" || gcs == "" {
		t.Skip("GRAFT_RAY_BIN and GRAFT_RAY_GCS (set by make test-ray) are not set: this test adds a node of its own")
	}
	cmd := exec.Command(bin, "start", "--address", gcs, "--node-ip-address", "127.0.0.1", "--num-cpus", "1", "--num-gpus", "0",
		"--resources", `{"graft_third": 1}`, "--node-name", name, "--dashboard-agent-listen-port", "52467", "--metrics-export-port", "58082",
		"--object-store-memory", "100000000", "--disable-usage-stats", "--block")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM) // --block tears its node down
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	poll(t, "node "+name, "alive", 2*time.Minute, func() ([]raylaunch.Node, error) { return c.Nodes(context.Background()) }, func(ns []raylaunch.Node) bool {
		for _, n := range ns {
			if n.Name == name && n.State == "ALIVE" {
				return true
			}
		}
		select {
		case <-done:
			t.Fatalf("node %s did not start:\n%s", name, out.String())
		default:
		}
		return false
	})
	return cmd.Process.Pid
}

// A daemon job with extract_workers on the Ray launcher runs each shard
// as a Ray job: the shards land on two nodes, a node lost mid-shard has
// its shard tried again on the other, the feature cache equals a
// single-process extraction's file for file, and the head trains on the
// job's own worker into a model that predicts.
func TestRayShards(t *testing.T) {
	c := ray(t)
	ctx := context.Background()
	data := noiseImages(t, 2000)
	req := func(shards bool) api.JobRequest {
		r := api.JobRequest{JobSpec: api.JobSpec{Backbone: backboneDir, Tap: "conv2d_2", Data: data, Preprocess: "unit",
			Head: "linear", Epochs: api.Ptr(1), BatchSize: api.Ptr(64), Seed: api.Ptr[uint64](3)}}
		if shards {
			r.ExtractWorkers, r.ShardSize = api.Ptr(4), api.Ptr(250) // 8 shards
		}
		return r
	}

	// The oracle: one process, the local launcher, no shards, on the one
	// thread a shard's Ray job (half a CPU) computes on.
	for _, k := range []string{"GOMAXPROCS", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"} {
		t.Setenv(k, "1")
	}
	local, localDir := startDaemon(t, data, nil, 0)
	j, err := local.Submit(ctx, req(false))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitJob(t, local, j.ID, 3*time.Minute, "ended", final); j.State != api.Succeeded {
		t.Fatalf("local job: %s %s", j.State, j.Error)
	}
	want := testmodules.CacheEntries(t, filepath.Join(localDir, "cache"))

	// Only the head node has CPUs free when the job starts, so its own
	// worker runs there; the second node (when an earlier test left it
	// up) is kept busy.
	for _, n := range mustNodes(t, c) {
		if n.Name == "graft-second" && n.State == "ALIVE" {
			blocker := "graft-test-shard-blocker-" + time.Now().Format("150405.000000")
			if _, err := c.Submit(ctx, raylaunch.Submission{Entrypoint: "sleep 600", SubmissionID: blocker, NumCPUs: 1, Resources: map[string]float64{"graft_second": 1}}); err != nil {
				t.Fatal(err)
			}
			defer c.Stop(ctx, blocker)
			waitRay(t, c, blocker, time.Minute, func(j *raylaunch.JobInfo) bool { return j.Status == raylaunch.Running })
		}
	}
	rl := launcher(c)
	rl.CPUs = 0.5 // the job's worker and one shard share the head's CPU
	d, rayDir := startDaemon(t, data, rl, 0)
	rl.Args = []string{"--test-shard-delay", "250ms"} // a shard lasts seconds: long enough to lose its node
	j, err = d.Submit(ctx, req(true))
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, d, j.ID, 2*time.Minute, "placed", func(j *api.Job) bool { return len(j.Attempts) > 0 && j.Attempts[0].Node != "" })
	// A node joins: the shards waiting for a CPU go there.
	third := addNode(t, c, "graft-third")
	thirdID := ""
	for _, n := range mustNodes(t, c) {
		if n.Name == "graft-third" && n.State == "ALIVE" {
			thirdID = n.ID
		}
	}
	prefix := raylaunch.SubmissionID(rl.DaemonID, j.ID, 1) + "-s"
	shardJobs := func() ([]raylaunch.JobInfo, error) {
		js, err := c.Jobs(ctx)
		var mine []raylaunch.JobInfo
		for _, rj := range js {
			if strings.HasPrefix(rj.SubmissionID, prefix) {
				mine = append(mine, rj)
			}
		}
		return mine, err
	}
	// One shard done on the new node and another running there: the node
	// is lost (its raylet killed).
	lost := poll(t, "shards on graft-third", "one done and one running", 2*time.Minute, shardJobs, func(js []raylaunch.JobInfo) bool {
		var done, running bool
		for _, rj := range js {
			done = done || rj.DriverNodeID == thirdID && rj.Status == raylaunch.Succeeded
			running = running || rj.DriverNodeID == thirdID && rj.Status == raylaunch.Running
		}
		return done && running
	})
	time.Sleep(time.Second) // in the middle of the shard
	raylet := childNamed(third, "raylet")
	if raylet == 0 {
		t.Fatalf("no raylet among the children of graft-third's ray start (%d)", third)
	}
	if err := syscall.Kill(raylet, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	j = waitJob(t, d, j.ID, 4*time.Minute, "ended", final)
	if j.State != api.Succeeded || len(j.Attempts) != 1 || j.Attempts[0].Node != "graft-head" {
		t.Fatalf("sharded job %s (%s), attempts %+v\nshard jobs when the node was lost: %+v", j.State, j.Error, j.Attempts, lost)
	}
	if j.Progress.Shards != 8 || j.Progress.ShardsDone != 8 {
		t.Errorf("job progress %+v: want shards 8/8", j.Progress)
	}

	// Ray's record of the shards: every shard succeeded, on both nodes;
	// a try was lost with graft-third (failed there, or failed with no
	// node when it was placed on graft-third as it died) and its shard
	// was tried again and succeeded. Which try the loss hits is a race:
	// a try that was ending when the raylet died may read as succeeded
	// in Ray yet lost to graft, and is retried too.
	js, _ := shardJobs()
	nodes, ok, retried, lostTries := map[string]int{}, map[string]bool{}, map[string]bool{}, 0
	for _, rj := range js {
		shard := rj.Metadata["graft_shard"]
		if rj.Metadata["graft_shard_attempt"] != "1" {
			retried[shard] = true
		}
		switch {
		case rj.Status == raylaunch.Succeeded:
			nodes[nodeName(t, c, rj.DriverNodeID)]++
			ok[shard] = true
		case rj.DriverNodeID == thirdID || rj.DriverNodeID == "":
			lostTries++
		}
	}
	if len(ok) != 8 || nodes["graft-head"] == 0 || nodes["graft-third"] == 0 || lostTries == 0 || len(retried) == 0 {
		t.Errorf("shards succeeded %v on nodes %v; %d tries lost with graft-third, shards retried %v; want 8 shards, on graft-head and graft-third, a try lost and its shard retried", ok, nodes, lostTries, retried)
	}
	for s := range retried {
		if !ok[s] {
			t.Errorf("shard %s was retried and never succeeded", s)
		}
	}
	for _, rj := range js {
		t.Logf("%s: %s on %s", rj.SubmissionID, rj.Status, rj.DriverNodeID)
	}

	testmodules.SameCache(t, testmodules.CacheEntries(t, filepath.Join(rayDir, "cache")), want)

	// The model the head phase trained predicts.
	png, err := os.ReadFile(filepath.Join(data, "c0", "00000.png"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := d.Predict(ctx, j.Model, 0, api.PredictRequest{Instances: []api.Image{{B64: base64.StdEncoding.EncodeToString(png)}}})
	if err != nil || len(p.Predictions) != 1 || len(p.Predictions[0]) != 2 {
		t.Errorf("predict with the sharded job's model: %+v, %v", p, err)
	}
}

func mustNodes(t *testing.T, c *raylaunch.Client) []raylaunch.Node {
	t.Helper()
	ns, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ns
}
