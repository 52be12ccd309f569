package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/shard"
	"github.com/graft-ml/graft/internal/train"
	"github.com/graft-ml/graft/internal/worker"
)

// shardOptions are --extract-workers's for the job j: each shard runs in
// this executable's `worker`, logging warnings and errors (JSON) to
// stderr. Nil without sharding. Checked before the run directory exists.
func (t *TrainJob) shardOptions(cacheDir string) (*train.ShardOptions, error) {
	so := t.Shards
	switch {
	case so.Workers < 0:
		return nil, fmt.Errorf("train: --extract-workers %d: use 0 (extract in this process) or a number of worker processes", so.Workers)
	case so.Workers < 2:
		return nil, nil
	case cacheDir == "none":
		return nil, fmt.Errorf("train: --extract-workers needs the feature cache, where the workers put the features: drop --cache-dir none")
	case so.Size < 1:
		return nil, fmt.Errorf("train: --shard-size %d: use a positive number of samples per shard (default %d)", so.Size, shard.DefaultSize)
	case so.Attempts < 1:
		return nil, fmt.Errorf("train: --shard-attempts %d: use 1 or more (default %d)", so.Attempts, shard.DefaultAttempts)
	}
	bin, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("train: --extract-workers: cannot find this program to start its workers: %w", err)
	}
	kill := t.KillShardAfter
	so.Run = func(ctx context.Context, spec api.RunSpec, tk shard.Task) (shard.Result, error) {
		base := worker.Input{MaxImagePixels: t.MaxImagePixels, CacheMaxBytes: t.CacheMaxBytes, Log: worker.Log{Format: "json", Level: "warn"}}
		if kill > 0 && tk.Index == 0 && tk.Attempt == 1 {
			base.KillAfter = kill
		}
		return worker.RunShard(ctx, bin, spec, tk, base, os.Stderr)
	}
	return &so, nil
}
