package worker

import (
	"context"
	"errors"
	"fmt"
	"os"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/extract/shard"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
)

// workShard extracts the input's shard; its done event's summary carries
// the shard's counts (cache hits, computed, bad files).
func workShard(ctx context.Context, in Input, o Options, progress func(api.Event)) error {
	j, err := job.FromRecord(in.Spec)
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	o.Log.Info("shard worker starting", zap.String("run", j.Out), zap.Stringer("shard", in.Shard), zap.Int("attempt", in.Shard.Attempt), zap.String("host", host))
	res, err := train.ExtractShard(ctx, j, *in.Shard, train.Options{Log: o.Log, MaxImagePixels: in.MaxImagePixels, CacheMaxBytes: in.CacheMaxBytes},
		train.ShardOnly{KillAfter: in.KillAfter, Delay: in.ShardDelay})
	if err != nil {
		return err
	}
	progress(api.Event{Kind: api.EventDone, Summary: &api.Summary{CacheHits: res.Hits, CacheComputed: res.Computed, BadFiles: res.Bad,
		Timing: api.Timing{DecodeSeconds: res.DecodeSeconds, BackboneSeconds: res.BackboneSeconds}}})
	return nil
}

// RunShard runs shard t of the resolved job spec in the worker l
// launched through lr (a local process, a Ray job: l names the job,
// its attempt and where it runs), with base's settings, and returns the
// shard's counts. name names the worker in errors.
func RunShard(ctx context.Context, lr Launcher, l Launch, name string, spec api.RunSpec, t shard.Task, base Input) (shard.Result, error) {
	in := base
	in.Spec, in.Shard, in.Resume, in.Ray = spec, &t, false, nil
	b, err := Encode(in)
	if err != nil {
		return shard.Result{}, err
	}
	l.Spec, l.Input, l.Shard = spec, b, &t
	s, err := RunOn(ctx, lr, l, name, func(api.Event) {})
	if err != nil {
		return shard.Result{}, err
	}
	return shard.Result{Computed: s.CacheComputed, Hits: s.CacheHits, Bad: s.BadFiles, DecodeSeconds: s.Timing.DecodeSeconds, BackboneSeconds: s.Timing.BackboneSeconds}, nil
}

// LocalShards runs each shard in `bin worker` on this host, on the CPU
// (a CUDA job's shards too: several processes would share its GPU).
func LocalShards(bin string, base Input) train.ShardRunner {
	ll := &LocalLauncher{CPUPath: bin, CUDAPath: bin, FullEnv: true}
	return func(ctx context.Context, spec api.RunSpec, t shard.Task) (shard.Result, error) {
		spec.Device = api.Device{Kind: api.CPU}
		return RunShard(ctx, ll, Launch{JobID: base.Job, Attempt: 1, Kind: CPU, Log: os.Stderr}, bin, spec, t, base)
	}
}

// RayShardRunner makes the runner of a job's shards on a Ray cluster
// (daemon/raylaunch's, which imports this package: the worker command
// passes it in Options).
type RayShardRunner func(r RayShards, base Input, log *zap.Logger) (train.ShardRunner, error)

// shardOptions are the job's sharding (nil without): its shards run as
// Ray jobs when the input names a cluster, else in local processes of
// this executable. Each shard worker logs warnings and errors only.
func shardOptions(in Input, j *job.Job, o Options) (*train.ShardOptions, error) {
	if j.ExtractWorkers < 2 {
		return nil, nil
	}
	base := Input{Job: in.Job, Private: in.Private, MaxImagePixels: in.MaxImagePixels, CacheMaxBytes: in.CacheMaxBytes, ShardDelay: in.ShardDelay,
		Log: Log{Format: "json", Level: "warn"}}
	var run train.ShardRunner
	if in.Ray != nil {
		if o.RayShards == nil {
			return nil, errors.New("worker: the input asks for shards on Ray, but this worker cannot submit Ray jobs")
		}
		var err error
		if run, err = o.RayShards(*in.Ray, base, o.Log); err != nil {
			return nil, err
		}
	} else {
		bin, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("worker: extract_workers: cannot find this program to start the shard workers: %w", err)
		}
		run = LocalShards(bin, base)
	}
	return train.NewShardOptions(&j.RunSpec, run), nil
}
