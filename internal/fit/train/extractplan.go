package train

import (
	"os"
	"runtime/debug"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/features"
	"github.com/graft-ml/graft/internal/run/job"
)

// prepare reads the job's backbone graph cut at its tap.
func prepare(cfg *job.Job) (*native.Prepared, error) { return features.Prepare(&cfg.RunSpec) }

// planExtraction sets fo's batch and chunk for the larger of the sets.
// A graph the native engine cannot replay (a model only the tensorflow
// engine runs) keeps the fixed sizes.
// It returns the plan's bytes, 0 without a plan.
func (r *runner) planExtraction(cfg *job.Job, fo *features.Options, bb backbone.Backbone, sets ...*dataset.Dataset) int64 {
	n := 0
	for _, ds := range sets {
		if ds != nil {
			n = max(n, ds.Len())
		}
	}
	p, err := features.PlanJob(&cfg.RunSpec, bb, n, cfg.MemoryBudget)
	if err != nil {
		r.log.Info("extraction: no working-set estimate for this graph; batches of 64", zap.Error(err))
		return 0
	}
	fo.Batch, fo.Chunk = p.Batch, p.Chunk
	r.log.Info("extraction plan", zap.Int("batch", p.Batch), zap.Int("decode_chunk", p.Chunk), zap.Int64("bytes", p.Bytes), zap.Int64("backbone_bytes", p.Fixed), zap.Int64("memory_budget", cfg.MemoryBudget))
	return p.Bytes
}

// heapHeadroom is the Go heap's soft limit over the run's planned host
// bytes. Without a limit the collector lets the heap grow to twice what
// is live (GOGC=100): a MobileNetV2 run at 224 planned at 0.81 GB peaked
// at 2.08 GB of RSS, 1.24 GB under a limit of 1100 MiB in the same time,
// and 0.84 GB under 800 MiB but 33% slower, the collector running
// nearly all the time.
const heapHeadroom = 1.5

// limitHeap sets the Go heap's soft limit (runtime/debug.SetMemoryLimit)
// to heapHeadroom times the run's planned host bytes (Footprint.Host: the
// extraction's plan, the features, the head's parameters and steps) and
// returns the function that restores the previous limit. A GOMEMLIMIT in
// the environment, or a lower limit already set (the daemon's
// --memory-limit), is left as it is.
func (r *runner) limitHeap(cfg *job.Job, extractBytes int64, spec head.Spec, rows, samples int) (restore func()) {
	if extractBytes == 0 || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	f := Footprint{Samples: samples, ExtractBytes: extractBytes}
	headBytes(cfg, spec, rows, &f)
	limit := heapLimit(f.Host(cfg.MemoryBudget), debug.SetMemoryLimit(-1))
	if limit <= 0 {
		return func() {}
	}
	prev := debug.SetMemoryLimit(limit)
	r.log.Info("heap soft limit", zap.Int64("bytes", limit), zap.Int64("planned_host_bytes", f.Host(cfg.MemoryBudget)))
	return func() { debug.SetMemoryLimit(prev) }
}

// restoreHeapLimit undoes limitHeap, once.
func (r *runner) restoreHeapLimit() {
	if r.restoreHeap != nil {
		r.restoreHeap()
		r.restoreHeap = nil
	}
}

// heapLimit is the soft limit for a run planned at host bytes under the
// current limit, 0 to keep the current one.
func heapLimit(host, current int64) int64 {
	limit := int64(heapHeadroom * float64(host))
	if host <= 0 || limit >= current {
		return 0
	}
	return limit
}
