package raylaunch

import (
	"context"
	"os"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/extract/shard"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/worker"
)

// ShardRunner runs a job's shards as Ray jobs (worker.RayShardRunner):
// each try of each shard is one Ray job (ShardSubmissionID), submitted
// by the job's own worker through this package's Launcher, so the
// entrypoint, its resources (a GPU for a CUDA job's shards), the polling
// and the log reading are the job attempts'. The shard worker writes
// into the feature cache under the daemon's data directory, which every
// node sees. A shard whose Ray job fails or is stopped, or whose node is
// lost, returns an error: internal/extract/shard tries it again.
func ShardRunner(r worker.RayShards, base worker.Input, log *zap.Logger) (train.ShardRunner, error) {
	c, err := New(r.Address)
	if err != nil {
		return nil, err
	}
	rl := &Launcher{Client: c, DaemonID: r.DaemonID, CPUPath: r.CPUPath, CUDAPath: r.CUDAPath, Args: r.Args, CPUs: r.CPUs, Log: log}
	return func(ctx context.Context, spec api.RunSpec, t shard.Task) (shard.Result, error) {
		kind := worker.CPU
		if spec.Device.IsCUDA() {
			kind = worker.CUDA
		}
		// The shard worker's log lines join this worker's (the job's log).
		l := worker.Launch{JobID: base.Job, Attempt: r.Attempt, Kind: kind, Dir: r.Dir, Log: os.Stderr}
		res, err := worker.RunShard(ctx, rl, l, "ray", spec, t, base)
		// The try's Ray job has ended: its input is read and done with
		// (a job's thousands of shard inputs would pile up).
		l.Shard = &t
		os.Remove(specPath(l))
		return res, err
	}, nil
}
