package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/extract/shard"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/worker"
)

// shardOptions are --extract-workers's for the job j (its settings
// checked when it was resolved): each shard runs in this executable's
// `worker`, logging warnings and errors (JSON) to stderr. Nil without
// sharding.
func (t *TrainJob) shardOptions(j *job.Job) (*train.ShardOptions, error) {
	if j.ExtractWorkers < 2 {
		return nil, nil
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("train: --extract-workers: cannot find this program to start its workers: %w", err)
	}
	base := worker.Input{MaxImagePixels: t.MaxImagePixels, CacheMaxBytes: t.CacheMaxBytes, Log: worker.Log{Format: "json", Level: "warn"}}
	local, killing := worker.LocalShards(bin, base), base
	killing.KillAfter = t.KillShardAfter
	kill := worker.LocalShards(bin, killing)
	return train.NewShardOptions(&j.RunSpec, func(ctx context.Context, spec api.RunSpec, tk shard.Task) (shard.Result, error) {
		if t.KillShardAfter > 0 && tk.Index == 0 && tk.Attempt == 1 {
			return kill(ctx, spec, tk)
		}
		return local(ctx, spec, tk)
	}), nil
}
