package raylaunch

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/extract/shard"
	"github.com/graft-ml/graft/internal/run/worker"
)

// A shard's try is a Ray job of its own: its id, input file and metadata
// name job, attempt, shard and try; a CUDA job's shard reserves a GPU
// and runs graft-cuda. No cluster needed.
func TestShardSubmission(t *testing.T) {
	rl := &Launcher{DaemonID: "d1", CPUPath: "/bin/graft", CUDAPath: "/bin/graft-cuda", CPUs: 2}
	for _, c := range []struct {
		kind     worker.Kind
		bin      string
		gpus     float64
		shard    *shard.Task
		id, file string
	}{
		{worker.CPU, "/bin/graft", 0, &shard.Task{Index: 3, Attempt: 2}, "graft-d1-job-000007-a2-s3-t2", "/data/ray/job-000007-a2-s3-t2.json"},
		{worker.CUDA, "/bin/graft-cuda", 1, &shard.Task{Index: 0, Attempt: 1}, "graft-d1-job-000007-a2-s0-t1", "/data/ray/job-000007-a2-s0-t1.json"},
		{worker.CPU, "/bin/graft", 0, nil, "graft-d1-job-000007-a2", "/data/ray/job-000007-a2.json"}, // the attempt itself
	} {
		s, err := rl.Submission(worker.Launch{JobID: "job-000007", Attempt: 2, Kind: c.kind, Dir: "/data", Shard: c.shard})
		if err != nil {
			t.Fatal(err)
		}
		wantEntry := "cd '/data' && exec '" + c.bin + "' 'worker' '--job' 'job-000007' < '" + c.file + "'"
		if s.SubmissionID != c.id || s.Entrypoint != wantEntry || s.NumGPUs != c.gpus || s.NumCPUs != 2 {
			t.Errorf("%v %+v: submission %+v, want id %s, entrypoint %s, %v GPUs", c.kind, c.shard, s, c.id, wantEntry, c.gpus)
		}
		if c.shard != nil && (s.Metadata["graft_shard"] != strconv.Itoa(c.shard.Index) || s.Metadata["graft_shard_attempt"] != strconv.Itoa(c.shard.Attempt)) {
			t.Errorf("%+v: metadata %v", c.shard, s.Metadata)
		}
	}
}

// The input of a job that shards tells its worker the cluster; a job
// that does not shard, and a shard's own input, are passed unchanged.
func TestWorkerSpecNamesTheCluster(t *testing.T) {
	rl := &Launcher{Client: &Client{Base: "http://head:8265"}, DaemonID: "d1", CPUPath: "/bin/graft", Args: []string{"--x"}, CPUs: 0.5}
	for _, c := range []struct {
		workers int
		shard   *shard.Task
		ray     bool
	}{{4, nil, true}, {0, nil, false}, {1, nil, false}, {4, &shard.Task{Index: 1, Attempt: 1}, false}} {
		spec := api.RunSpec{Backbone: "/m", Device: api.Device{Kind: api.CPU}, ExtractWorkers: c.workers}
		in, err := worker.Encode(worker.Input{Job: "job-000001", Spec: spec})
		if err != nil {
			t.Fatal(err)
		}
		b, err := rl.workerSpec(worker.Launch{JobID: "job-000001", Attempt: 3, Spec: spec, Input: in, Dir: "/data", Shard: c.shard})
		if err != nil {
			t.Fatal(err)
		}
		got, err := worker.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		if !c.ray {
			if got.Ray != nil {
				t.Errorf("extract_workers %d, shard %v: the input names a cluster: %+v", c.workers, c.shard, got.Ray)
			}
			continue
		}
		want := worker.RayShards{Address: "http://head:8265", DaemonID: "d1", Attempt: 3, CPUPath: "/bin/graft", Args: []string{"--x"}, CPUs: 0.5, Dir: "/data"}
		if got.Ray == nil || got.Ray.Address != want.Address || got.Ray.Attempt != 3 || got.Ray.Dir != "/data" || got.Ray.CPUs != 0.5 || strings.Join(got.Ray.Args, " ") != "--x" {
			t.Errorf("extract_workers %d: input's cluster %+v, want %+v", c.workers, got.Ray, want)
		}
	}
}
