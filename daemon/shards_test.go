package daemon_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/api/client"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// A job with extract_workers on the local launcher extracts in local
// shard workers: it succeeds, its progress counts the shards, and its
// cache equals the one an unsharded job's worker wrote, file for file.
func TestJobShardsLocally(t *testing.T) {
	f := newFixture(t, 4) // 40 images
	ctx := context.Background()
	one := startServer(t, daemon.Options{AllowRoots: f.roots})
	j, err := one.Submit(ctx, f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, one.Client, j.ID); j.State != api.Succeeded || j.Progress.Shards != 0 {
		t.Fatalf("unsharded job: %s %q, progress %+v", j.State, j.Error, j.Progress)
	}

	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	req := f.spec(1)
	req.ExtractWorkers, req.ShardSize = api.Ptr(3), api.Ptr(8) // 5 shards
	if j, err = s.Submit(ctx, req); err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("sharded job: %s %q", j.State, j.Error)
	}
	if p := j.Progress; p.Shards != 5 || p.ShardsDone != 5 || j.Spec.ExtractWorkers != 3 || j.Spec.ShardSize != 8 {
		t.Errorf("sharded job: progress %+v, spec extract_workers %d shard_size %d; want 5 of 5 shards, 3 and 8", p, j.Spec.ExtractWorkers, j.Spec.ShardSize)
	}
	var shardEvents int
	s.Events(ctx, j.ID, 0, false, func(e api.JobEvent) error {
		if e.Type == string(api.EventExtract) {
			var ev api.Event
			if json.Unmarshal(e.Data, &ev) == nil && ev.Split == api.SplitShards {
				shardEvents++
			}
		}
		return nil
	})
	if shardEvents == 0 {
		t.Error("the sharded job's events count no shards")
	}
	testmodules.SameCache(t, testmodules.CacheEntries(t, filepath.Join(s.dir, "cache")), testmodules.CacheEntries(t, filepath.Join(one.dir, "cache")))
}

// Bad sharding settings are refused at submission, naming the field.
func TestJobShardSettingsRefused(t *testing.T) {
	f := newFixture(t, 1)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	for _, c := range []struct {
		set   func(*api.JobRequest)
		field string
	}{
		{func(r *api.JobRequest) { r.ExtractWorkers = api.Ptr(-1) }, "extract_workers"},
		{func(r *api.JobRequest) { r.ExtractWorkers, r.ShardSize = api.Ptr(2), api.Ptr(0) }, "shard_size"},
		{func(r *api.JobRequest) { r.ExtractWorkers, r.ShardAttempts = api.Ptr(2), api.Ptr(0) }, "shard_attempts"},
	} {
		req := f.spec(1)
		c.set(&req)
		_, err := s.Submit(context.Background(), req)
		var ae *client.Error
		if !errors.As(err, &ae) || len(ae.Fields) != 1 || ae.Fields[0].Field != c.field {
			t.Errorf("%s: submit answered %v, want a field error of %s", c.field, err, c.field)
		}
	}
}

// A job that shards on this host runs its extract_workers shard
// processes at once: admission counts each one's extraction working set.
// The oracle is the footprint's own parts, summed as the workers spend
// them: a job memory that holds one extraction but not n refuses the
// n-worker job (naming extract_workers) and takes the one-worker job.
func TestShardedJobMemoryCountsItsWorkers(t *testing.T) {
	const n = 32 // each worker's extraction plans for a twelfth or so of the job's memory budget
	f := newFixture(t, 4)
	req := f.spec(1)
	budget := int64(4 << 20)
	req.MemoryBudget = api.Ptr(budget)
	req.Head = "linear" // a small head state, so the extraction sets the need
	fp := footprintOf(t, req.JobSpec)
	resident := min(fp.FeatureBytes, budget)
	one := resident + max(fp.ParamBytes+fp.ScratchBytes, fp.ExtractBytes)
	many := resident + max(fp.ParamBytes+fp.ScratchBytes, n*fp.ExtractBytes)
	limit := max((one+many)/2, budget) // the job memory must hold the job's memory_budget
	if limit >= many {
		t.Fatalf("fixture: a job memory of %d holds %d workers (%d bytes; one needs %d)", limit, n, many, one)
	}
	s := startServer(t, daemon.Options{AllowRoots: f.roots, JobMemory: limit})
	ctx := context.Background()
	req.ExtractWorkers = api.Ptr(n)
	_, err := s.Submit(ctx, req)
	var ae *client.Error
	if !errors.As(err, &ae) || ae.Status != 422 || len(ae.Fields) != 1 || ae.Fields[0].Field != "memory" ||
		!strings.Contains(ae.Fields[0].Message, fmt.Sprintf("%d shard workers", n)) || !strings.Contains(ae.Fields[0].Message, "extract_workers") {
		t.Fatalf("%d shard workers under a job memory of %d (one worker needs %d, %d need %d): %v; want a memory error naming the workers", n, limit, one, n, many, err)
	}
	req.ExtractWorkers = api.Ptr(1)
	if _, err := s.Submit(ctx, req); err != nil {
		t.Errorf("one worker under a job memory of %d (it needs %d): %v", limit, one, err)
	}
}
