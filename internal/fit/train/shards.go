package train

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
	"github.com/graft-ml/graft/internal/extract/features"
	"github.com/graft-ml/graft/internal/extract/shard"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// ShardOptions run a job's feature extraction in worker processes
// (graft train --extract-workers): the run's samples, train then
// validation in split.json's order, are cut into shards of Size, Workers
// of them run at once, each writing its features into the shared cache;
// the head starts when all are there. With augmented views the shards
// cut the training rows (each sample's views in a row), so they compute
// the views too.
type ShardOptions struct {
	Workers  int // worker processes at once; < 2: no sharding
	Size     int // samples per shard; <= 0: shard.DefaultSize
	Attempts int // tries per shard; <= 0: shard.DefaultAttempts
	// Run extracts shard t of the job spec in a worker process (a `graft
	// worker` whose input names the shard: ExtractShard) and returns its
	// counts.
	Run ShardRunner
}

// ShardRunner runs one shard of a job somewhere (a local worker process,
// a Ray job) and returns its counts.
type ShardRunner func(ctx context.Context, spec api.RunSpec, t shard.Task) (shard.Result, error)

// NewShardOptions are the job's sharding settings (extract_workers,
// shard_size, shard_attempts) with run running each shard.
func NewShardOptions(r *api.RunSpec, run ShardRunner) *ShardOptions {
	return &ShardOptions{Workers: r.ExtractWorkers, Size: r.ShardSize, Attempts: r.ShardAttempts, Run: run}
}

// EventShards is the split name of the extract events that count shards:
// Step of Steps shards done.
const EventShards = api.SplitShards

// sharded is what the shards did, per split, to correct the run's
// reports: the features the run then finds in the cache were computed by
// its shards, not cached before.
type sharded struct {
	computed [2]int // samples of each split whose entries the shards wrote
	ran      bool
	res      shard.Result
}

// fix turns the split's report from the run's view (everything a hit)
// into the job's: the entries the shards wrote are computed, not hits.
func (s *sharded) fix(i int, rep *features.Report) {
	if s == nil || !s.ran {
		return
	}
	moved := min(s.computed[i], rep.Hits)
	rep.Hits -= moved
	rep.Computed += moved
	if i == 0 { // the workers' seconds, summed, count on the train split
		rep.DecodeSeconds += s.res.DecodeSeconds
		rep.BackboneSeconds += s.res.BackboneSeconds
	}
}

// extractShards runs the job's shards (when the options ask for them)
// before the run reads its features from the cache.
func (r *runner) extractShards(ctx context.Context, splits [2]*dataset.Dataset, cache *featcache.Namespace) (*sharded, error) {
	so := r.opts.Shards
	if so == nil || so.Workers < 2 {
		return nil, nil
	}
	if cache == nil {
		return nil, errors.New("train: --extract-workers needs the feature cache, where the workers put the features: drop --cache-dir none")
	}
	size := so.Size
	if size <= 0 {
		size = shard.DefaultSize
	}
	if splits[0].Len() == 0 {
		return nil, nil // nothing to train on: the run says so
	}
	// A resumed run's samples are hashed here rather than by Extract
	// (which keeps a digest it finds): the shards done are skipped.
	for _, ds := range splits {
		dataset.Hash(ctx, ds, r.cfg.Workers)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	rows := shardRows(splits[0], splits[1], r.cfg)
	all := rows.Samples
	trainRows := len(all) - splits[1].Len()
	tasks, err := shard.Plan(len(all), size, func(i int) string { return all[i].ID })
	if err != nil {
		return nil, err
	}
	s := &sharded{}
	present := make([]bool, len(all))
	for i, smp := range all {
		present[i] = smp.Digest != [32]byte{} && cache.Has(rows.EntryKey(smp))
	}
	todo := slices.DeleteFunc(tasks, func(t shard.Task) bool { return !slices.Contains(present[t.Lo:t.Hi], false) })
	r.log.Info("sharded extraction", zap.Int("samples", len(all)), zap.Int("shard_size", size), zap.Int("shards", len(tasks)), zap.Int("to_run", len(todo)), zap.Int("workers", so.Workers))
	if len(todo) == 0 {
		return s, nil
	}
	s.ran = true
	spec := r.cfg.RunSpec
	res, err := shard.Run(ctx, todo, shard.Options{Workers: so.Workers, Attempts: so.Attempts, Progress: func(p shard.Progress) {
		r.opts.Progress(Event{Kind: api.EventExtract, Split: EventShards, Step: p.Done, Steps: p.Total})
	}}, func(ctx context.Context, t shard.Task) (shard.Result, error) {
		res, err := so.Run(ctx, spec, t)
		if err != nil {
			r.log.Warn("shard failed", zap.Int("shard", t.Index), zap.Int("attempt", t.Attempt), zap.Error(err))
		}
		return res, err
	})
	if err != nil {
		return nil, err
	}
	s.res = res
	for i, smp := range all { // what is there now and was not before
		if !present[i] && smp.Digest != [32]byte{} && cache.Has(rows.EntryKey(smp)) {
			s.computed[min(i/trainRows, 1)]++ // a training row: 0
		}
	}
	r.said("shards done", zap.Int("shards", len(todo)), zap.Int("computed", res.Computed), zap.Int("cache_hits", res.Hits), zap.Int("bad_files", res.Bad),
		zap.Float64("decode_s", res.DecodeSeconds), zap.Float64("backbone_s", res.BackboneSeconds))
	return s, nil
}

// shardRows are the rows the shards cut: the training samples, each
// one's views in a row when the job augments (dataset.Views), then the
// validation samples (never augmented: view 0 is the image).
func shardRows(train, val *dataset.Dataset, j *job.Job) *dataset.Dataset {
	if j.Views > 1 {
		train = train.Views(j.Views, j.Augmenter)
	}
	all := *train
	all.Samples = slices.Concat(train.Samples, val.Samples)
	return &all
}

// ShardOnly are a shard worker's settings besides the job.
type ShardOnly struct {
	// KillAfter, for tests only, makes the worker kill itself (SIGKILL)
	// after that many features are stored: a worker lost mid-shard.
	KillAfter int
	// Delay, for tests only, sleeps after every batch of 32 samples:
	// a shard long enough to interrupt.
	Delay time.Duration
}

// ExtractShard computes shard t of the run j.Out (a run whose split.json
// and classes.json are written: the samples are that split's, train then
// validation) into the feature cache and returns its counts. Bad files
// are counted, never fatal: the run applies its policy.
func ExtractShard(ctx context.Context, j *job.Job, t shard.Task, opts Options, so ShardOnly) (shard.Result, error) {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	var classes []string
	if err := rundir.ReadJSON(j.Out, rundir.ClassesFile, &classes); err != nil {
		return shard.Result{}, err
	}
	tr, va, err := rundir.OpenSplit(&j.RunSpec, j.Out, classes)
	if err != nil {
		return shard.Result{}, err
	}
	all := shardRows(tr, va, j)
	if t.Hi > len(all.Samples) || t.Lo < 0 || t.Lo >= t.Hi {
		return shard.Result{}, fmt.Errorf("train: %s is outside the run's %d samples: the data changed since the split", t, len(all.Samples))
	}
	ds := all.Slice(t.Lo, t.Hi)
	ds.MaxPixels = opts.MaxImagePixels
	bb, err := features.OpenBackbone(&j.RunSpec, loadBackbone(&j.RunSpec), false)
	if err != nil {
		return shard.Result{}, err
	}
	defer bb.Close()
	digest, err := features.BackboneDigest(&j.RunSpec)
	if err != nil {
		return shard.Result{}, err
	}
	cache, err := features.OpenCache(&j.RunSpec, bb, digest, opts.CacheMaxBytes)
	if err != nil {
		return shard.Result{}, err
	}
	// A budget of one byte: nothing resident, every feature goes to the
	// cache only (a shard holds no features in memory).
	fo := features.Options{Mode: j.Preprocess, Workers: j.Workers, MemoryBudget: 1, Log: opts.Log, Policy: dataset.Skip, Cache: cache}
	if so.KillAfter > 0 {
		fo.Batch = so.KillAfter
		fo.Progress = func(done, total int) {
			if done >= so.KillAfter {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	} else if so.Delay > 0 {
		fo.Batch = 32
		fo.Progress = func(done, total int) {
			select {
			case <-time.After(so.Delay):
			case <-ctx.Done():
			}
		}
	}
	_, rep, err := features.Extract(ctx, bb, ds, fo)
	if err != nil && !errors.Is(err, dataset.ErrEmpty) { // a shard of bad files only is done
		return shard.Result{}, err
	}
	return shard.Result{Computed: rep.Computed, Hits: rep.Hits, Bad: len(rep.Bad), DecodeSeconds: rep.DecodeSeconds, BackboneSeconds: rep.BackboneSeconds}, nil
}
