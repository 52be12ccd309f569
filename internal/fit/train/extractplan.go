package train

import (
	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/base/memlimit"
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

// limitHeap sets the Go heap's soft limit for the run's planned host
// bytes (Footprint.Host: the extraction's plan of extractBytes, the
// features of the sets, the head's parameters and steps; memlimit.Set)
// and returns the function that restores the previous limit. Without a
// plan, or for a tap the head does not take (prepareModel reports it),
// it sets none.
func (r *runner) limitHeap(cfg *job.Job, extractBytes int64, tap []int, trainDS, valDS *dataset.Dataset) (restore func()) {
	if extractBytes == 0 || len(tap) < 2 {
		return func() {}
	}
	spec, err := headSpec(cfg, tap[1:], len(trainDS.Classes))
	if err != nil {
		return func() {}
	}
	// Views feature rows per training image, one per validation image.
	rows, samples := trainDS.Len()*max(cfg.Views, 1), trainDS.Len()
	if valDS != nil {
		rows, samples = rows+valDS.Len(), samples+valDS.Len()
	}
	f := Footprint{Samples: samples, ExtractBytes: extractBytes}
	headBytes(cfg, spec, rows, &f)
	_, restore = memlimit.Set(f.Host(cfg.MemoryBudget), r.log)
	return restore
}

// restoreHeapLimit undoes limitHeap, once.
func (r *runner) restoreHeapLimit() {
	if r.restoreHeap != nil {
		r.restoreHeap()
		r.restoreHeap = nil
	}
}
