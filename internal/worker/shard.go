package worker

import (
	"context"
	"io"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/job"
	"github.com/graft-ml/graft/internal/shard"
	"github.com/graft-ml/graft/internal/train"
)

// workShard extracts the input's shard; its done event's summary carries
// the shard's counts (cache hits, computed, bad files).
func workShard(ctx context.Context, in Input, o Options, progress func(api.Event)) error {
	j, err := job.FromRecord(in.Spec)
	if err != nil {
		return err
	}
	o.Log.Info("shard worker starting", zap.String("run", j.Out), zap.Stringer("shard", in.Shard), zap.Int("attempt", in.Shard.Attempt))
	res, err := train.ExtractShard(ctx, j, *in.Shard, train.Options{Log: o.Log, MaxImagePixels: in.MaxImagePixels, CacheMaxBytes: in.CacheMaxBytes}, train.ShardOnly{KillAfter: in.KillAfter})
	if err != nil {
		return err
	}
	progress(api.Event{Kind: api.EventDone, Summary: &api.Summary{CacheHits: res.Hits, CacheComputed: res.Computed, BadFiles: res.Bad,
		Timing: api.Timing{DecodeSeconds: res.DecodeSeconds, BackboneSeconds: res.BackboneSeconds}}})
	return nil
}

// RunShard runs shard t of the resolved job spec in `bin worker` (the
// protocol of Run) and returns its counts.
func RunShard(ctx context.Context, bin string, spec api.RunSpec, t shard.Task, base Input, stderr io.Writer) (shard.Result, error) {
	in := base
	in.Spec, in.Shard, in.Resume = spec, &t, false
	s, err := Run(ctx, bin, CPU, in, stderr, func(api.Event) {})
	if err != nil {
		return shard.Result{}, err
	}
	return shard.Result{Computed: s.CacheComputed, Hits: s.CacheHits, Bad: s.BadFiles, DecodeSeconds: s.Timing.DecodeSeconds, BackboneSeconds: s.Timing.BackboneSeconds}, nil
}
