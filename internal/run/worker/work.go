package worker

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/fit/sweep"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/util/threads"
)

// Options wire a worker into its process.
type Options struct {
	Log *zap.Logger
	// Ops is the device to train on; nil means the CPU (graft-cuda's
	// worker passes its CUDA ops).
	Ops head.Ops
	// FullDiskAt is for tests only (the hidden --test-full-disk-at): a run
	// that is not resumed fails to write this epoch's checkpoint with
	// ENOSPC, as on a full disk.
	FullDiskAt int
	// RayShards runs a job's shards as Ray jobs when its input names a
	// cluster (the worker command passes daemon/raylaunch's).
	RayShards RayShardRunner
}

// Work runs the job in: it resolves the record, trains (or resumes), and
// streams events to out, ending with an error event when it fails.
func Work(ctx context.Context, in Input, out io.Writer, o Options) error {
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if in.Private {
		syscall.Umask(0o077)
	}
	var mu sync.Mutex
	enc := json.NewEncoder(out)
	emit := func(e api.Event) {
		mu.Lock()
		defer mu.Unlock()
		if err := enc.Encode(e); err != nil {
			o.Log.Warn("worker: write event", zap.Error(err))
		}
	}
	err := work(ctx, in, o, func(e api.Event) {
		emit(e)
		if e.Kind == api.EventStep && in.StepDelay > 0 {
			select {
			case <-time.After(in.StepDelay):
			case <-ctx.Done():
			}
		}
	})
	if err != nil {
		emit(api.Event{Kind: api.EventError, Message: err.Error(), Short: short(err)})
	}
	return err
}

// short names the resource a failed run lacked, "" when it was not one:
// a full disk or quota is the host's, not the job's, to fix.
func short(err error) string {
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return api.ShortDisk
	}
	return ""
}

func work(ctx context.Context, in Input, o Options, progress func(api.Event)) error {
	if in.Shard != nil {
		return workShard(ctx, in, o, progress)
	}
	// The run's own record (its preprocessing resolved), then the
	// input's device, epochs and threads: the sender may move or extend
	// it. A sweep starts again (workSweep).
	j, err := job.FromRun(in.Spec, in.Resume && in.Spec.Sweep == nil)
	if err != nil {
		return err
	}
	n, err := threads.Set(j.Threads)
	if err != nil {
		return err
	}
	o.Log.Info("worker starting", zap.String("run", j.Out), zap.Bool("resume", in.Resume), zap.String("device", j.Device.String()), zap.Int("pid", os.Getpid()),
		zap.Int("threads", n), zap.Int("gomaxprocs", runtime.GOMAXPROCS(0)))
	if j.Sweep != nil {
		return workSweep(ctx, in, j, o, progress)
	}
	shards, err := shardOptions(in, j, o)
	if err != nil {
		return err
	}
	s, err := train.RunJob(ctx, j, train.Options{Ops: o.Ops, Log: o.Log, Progress: progress, Resume: in.Resume, MaxImagePixels: in.MaxImagePixels, CacheMaxBytes: in.CacheMaxBytes, FullDiskAt: o.FullDiskAt,
		Shards: shards})
	if err != nil {
		return err
	}
	o.Log.Info("worker done", zap.String("run", j.Out), zap.Int("best_epoch", s.BestEpoch), zap.Float64("best_val_accuracy", s.BestValAccuracy))
	return nil
}

// workSweep runs a sweep job: its trials on features extracted once, the
// best promoted to the job's run directory. A sweep does not resume: a
// later attempt starts it again.
func workSweep(ctx context.Context, in Input, j *job.Job, o Options, progress func(api.Event)) error {
	if err := sweep.Clear(j.Out); err != nil {
		return err
	}
	plan, err := sweep.FromSpec(job.SpecOf(j.RunSpec), job.Where{Out: j.Out, CacheDir: j.CacheDir, AllowRoots: j.AllowRoots})
	if err != nil {
		return err
	}
	board, err := sweep.Run(ctx, plan, train.SweepOptions{Options: train.Options{Log: o.Log, Progress: progress, MaxImagePixels: in.MaxImagePixels, CacheMaxBytes: in.CacheMaxBytes},
		Parallel: j.Sweep.Parallel})
	if err != nil {
		return err
	}
	var s api.Summary
	if err := rundir.ReadJSON(j.Out, rundir.SummaryFile, &s); err != nil {
		return err
	}
	progress(api.Event{Kind: api.EventDone, Summary: &s})
	o.Log.Info("worker done: sweep", zap.String("run", j.Out), zap.Int("trials", len(board.Trials)), zap.String("best", board.Best))
	return nil
}
