package train

import (
	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/confine"
	"github.com/graft-ml/graft/internal/dataset"
	"github.com/graft-ml/graft/internal/features"
	"github.com/graft-ml/graft/internal/job"
)

// extractPlan sizes the job's extraction of n samples from its memory
// budget and the backbone's working set per image: the native engine's
// arena replayed on the graph (native.WorkingSet). The TensorFlow engine
// runs the same graph, so its activations are taken to be the same size.
func extractPlan(cfg *job.Job, bb backbone.Backbone, n int) (features.Plan, error) {
	var perImage int64
	var err error
	if nb, ok := bb.(*native.Backbone); ok {
		perImage, err = nb.WorkingSet(1)
	} else {
		perImage, err = preparedWorkingSet(cfg)
	}
	if err != nil {
		return features.Plan{}, err
	}
	in := bb.Input().Shape
	return features.PlanFor(n, perImage, in[1]*in[2]*in[3], cfg.MemoryBudget), nil
}

// preparedWorkingSet is the working set per image of the job's backbone
// graph, without an engine of the job's.
func preparedWorkingSet(cfg *job.Job) (int64, error) {
	prep, err := prepare(cfg)
	if err != nil {
		return 0, err
	}
	return native.WorkingSet(prep.Graph, prep.Input.Shape, 1)
}

// prepare reads the job's backbone graph cut at its tap.
func prepare(cfg *job.Job) (*native.Prepared, error) {
	roots, err := confine.New(cfg.AllowRoots)
	if err != nil {
		return nil, err
	}
	return native.Prepare(cfg.Backbone, native.Options{Tags: cfg.Tags, Signature: cfg.Signature, Tap: cfg.Tap, Roots: roots})
}

// planExtraction sets fo's batch and chunk for the larger of the sets.
// A graph the native engine cannot replay (a model only the tensorflow
// engine runs) keeps the fixed sizes.
func (r *runner) planExtraction(cfg *job.Job, fo *features.Options, bb backbone.Backbone, sets ...*dataset.Dataset) {
	n := 0
	for _, ds := range sets {
		if ds != nil {
			n = max(n, ds.Len())
		}
	}
	p, err := extractPlan(cfg, bb, n)
	if err != nil {
		r.log.Info("extraction: no working-set estimate for this graph; batches of 64", zap.Error(err))
		return
	}
	fo.Batch, fo.Chunk = p.Batch, p.Chunk
	r.log.Info("extraction plan", zap.Int("batch", p.Batch), zap.Int("decode_chunk", p.Chunk), zap.Int64("bytes", p.Bytes), zap.Int64("memory_budget", cfg.MemoryBudget))
}
