package train

import (
	"errors"
	"fmt"

	"github.com/graft-ml/graft/gpu/plan"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/features"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/util/threads"
)

// ErrVal marks an error of the validation data (a job's val), as against
// its training data.
var ErrVal = errors.New("train: validation data")

// Footprint is the memory a job needs, computed from the job
// rather than guessed: its features (resident when they fit), the head's
// parameters, gradients and optimizer slots, the steps' scratch as the
// CUDA ops plan it (plan.ForAnyGPU, split-K workspaces included), the
// process's CUDA context, and on the host the extraction's working set.
type Footprint struct {
	Samples      int   `json:"samples"`
	FeatureBytes int64 `json:"feature_bytes"`
	ParamBytes   int64 `json:"param_bytes"`   // parameters, gradients, optimizer slots
	ScratchBytes int64 `json:"scratch_bytes"` // the steps' scratch and a streamed batch of each set
	ExtractBytes int64 `json:"extract_bytes"` // host memory of the extraction: the backbone (BackboneBytes), its run and the decoded images (features.Plan)
	// BackboneBytes is the part of ExtractBytes the backbone holds
	// whatever the batch: its weights, their packed and transformed
	// copies, its workers' scratch (native.Fixed). The trainer drops the
	// backbone once the features are extracted.
	BackboneBytes int64 `json:"backbone_bytes"`
	ContextBytes  int64 `json:"context_bytes"` // the worker's CUDA context
}

// Resident is the total with every feature on the device.
func (f Footprint) Resident() int64 { return f.FeatureBytes + f.Streaming() }

// Streaming is the total when features are copied in batch by batch.
func (f Footprint) Streaming() int64 { return f.ParamBytes + f.ScratchBytes + f.ContextBytes }

// Host is the host memory the job needs with budget its memory_budget:
// the resident features, and either the extraction's working set (the
// backbone's run, decoded images) or, after it, the head's state and a
// step's scratch, whichever is larger.
func (f Footprint) Host(budget int64) int64 {
	return min(f.FeatureBytes, budget) + max(f.ParamBytes+f.ScratchBytes, f.ExtractBytes)
}

// Need is what a device with budget bytes must reserve for the job:
// everything resident when that fits, else the streaming footprint; ok
// is false when not even that fits.
func (f Footprint) Need(budget int64) (int64, bool) {
	if f.Resident() <= budget {
		return f.Resident(), true
	}
	return f.Streaming(), f.Streaming() <= budget
}

// EstimateFootprint reads the job's backbone graph (for the tap's shape) and data
// (for the sample count, without decoding) and sizes the job.
func EstimateFootprint(cfg *job.Job) (Footprint, error) {
	// The tap's shape by static shape inference over the prepared graph;
	// no libtensorflow is loaded on the daemon's request path. The
	// extraction's plan (below) builds the native engine once, to replay
	// its arena and count its packed filters (about 0.8 s for ResNet50).
	prep, err := prepare(cfg)
	if err != nil {
		return Footprint{}, err
	}
	tap, err := prep.TapShape()
	if err != nil {
		return Footprint{}, err
	}
	var f Footprint
	var spec head.Spec
	rows := 0 // feature rows: with views, Views per training image (an upper bound when val is a split of data)
	for _, path := range []string{cfg.Data, cfg.Val} {
		if path == "" {
			continue
		}
		ds, err := dataset.Open(path, dataset.Options{Roots: cfg.AllowRoots})
		if err != nil && path == cfg.Val && path != cfg.Data {
			return Footprint{}, fmt.Errorf("%w: %w", ErrVal, err)
		}
		if err != nil {
			return Footprint{}, err
		}
		f.Samples += ds.Len()
		rows += ds.Len()
		if path == cfg.Data {
			rows += ds.Len() * (max(cfg.Views, 1) - 1)
			if len(tap) < 2 {
				return Footprint{}, fmt.Errorf("train: tap %q has shape %v", cfg.Tap, tap)
			}
			if spec, err = headSpec(cfg, tap[1:], len(ds.Classes)); err != nil {
				return Footprint{}, err
			}
		}
	}
	headBytes(cfg, spec, rows, &f)
	// The worker computes on the job's threads, else on its container's
	// CPUs: the daemon's own, for the local launcher.
	workers := cfg.Threads
	if workers <= 0 {
		workers = threads.Default()
	}
	p, err := features.PlanPrepared(prep, f.Samples, cfg.MemoryBudget, workers)
	if err != nil {
		return Footprint{}, err
	}
	f.ExtractBytes, f.BackboneBytes = p.Bytes, p.Fixed
	return f, nil
}

// headBytes fills f's parameter, feature and step figures for a head of
// spec trained on rows feature rows of f.Samples images.
func headBytes(cfg *job.Job, spec head.Spec, rows int, f *Footprint) {
	f.ParamBytes = 4 * int64(spec.Layout().Total) * int64(2+cfg.Opt.Slots())
	perSample := 4 * int64(spec.FeatureSize())
	f.FeatureBytes = int64(rows) * perSample
	// The steps' scratch on whichever device trains (the daemon does not
	// know which GPU, if any): a GPU's plan or the CPU head's buffers
	// (Winograd's transforms among them); and the streamed features'
	// double buffers (gpu.FeatureStream: two batches) of training and of
	// validation.
	batch, eval := min(cfg.BatchSize, f.Samples), min(max(cfg.BatchSize, 256), f.Samples)
	prec := head.PrecisionFP32
	if cfg.HeadPrecision == head.PrecisionBF16 {
		prec = head.PrecisionBF16
	}
	steps := max(plan.ForAnyGPU(spec, batch, eval, 0).Bytes(), head.CPUScratchBytes(spec, prec, batch, eval))
	f.ScratchBytes = steps + 2*int64(batch+eval)*perSample
	f.ContextBytes = plan.ContextBytes
}
