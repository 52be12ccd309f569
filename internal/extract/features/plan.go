package features

import (
	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/base/confine"
)

// Plan is how an extraction holds memory: the images of one backbone
// call (Batch) and the decoded images waiting for it (Chunk).
type Plan struct {
	Batch int `json:"batch"`
	Chunk int `json:"chunk"`
	// Bytes is the working set: the backbone's run on Batch images and
	// Chunk decoded images.
	Bytes int64 `json:"bytes"`
}

const (
	// maxBatch is what every extraction used before plans: on a CPU a
	// larger batch computes no faster, it only takes more memory.
	maxBatch = 64
	// maxChunk (decodeChunk) bounds the decoded images held at once.
	maxChunk = decodeChunk
)

// Share is the part of a job's memory budget its extraction's working
// set may take (the budget's other use is the resident features). An
// eighth: the budget's default, 4 GiB, gives 512 MiB, where a batch of
// 64 MobileNetV2 images at 224x224 (870 MiB of activations in the
// native engine's arena) once set the job's peak.
func Share(budget int64) int64 { return budget / 8 }

// PlanFor sizes the extraction of n samples within budget (a job's
// memory_budget; <= 0: no bound, the largest batch and chunk): half the
// share for the backbone's run, perImage bytes an image (its working set
// at batch 1: native.WorkingSet, which grows in proportion to the
// batch), half for decoded images of pixels floats each. A batch is at
// least one image, whatever the budget; the chunk a whole number of
// batches.
func PlanFor(n int, perImage int64, pixels int, budget int64) Plan {
	n = max(n, 1)
	batch, chunk := min(n, maxBatch), min(n, maxChunk)
	if budget > 0 {
		half := Share(budget) / 2
		if perImage > 0 {
			batch = int(min(int64(batch), max(1, half/perImage)))
		}
		if px := 4 * int64(pixels); px > 0 {
			chunk = int(min(int64(chunk), max(int64(batch), half/px)))
		}
	}
	chunk = max(batch, chunk/batch*batch)
	return Plan{Batch: batch, Chunk: chunk, Bytes: int64(batch)*perImage + int64(chunk)*4*int64(pixels)}
}

// PlanJob sizes the extraction of n samples through bb, the job c's
// backbone, within budget (PlanFor's). The working set per image is the
// native engine's arena replayed on the graph (native.WorkingSet); the
// TensorFlow engine runs the same graph, so its activations are taken to
// be the same size. An error means the native engine cannot replay the
// graph: callers keep the fixed sizes (Options' defaults).
func PlanJob(c *api.RunSpec, bb backbone.Backbone, n int, budget int64) (Plan, error) {
	var perImage int64
	var err error
	if nb, ok := bb.(*native.Backbone); ok {
		perImage, err = nb.WorkingSet(1)
	} else {
		var prep *native.Prepared
		if prep, err = Prepare(c); err == nil {
			perImage, err = native.WorkingSet(prep.Graph, prep.Input.Shape, 1)
		}
	}
	if err != nil {
		return Plan{}, err
	}
	in := bb.Input().Shape
	return PlanFor(n, perImage, in[1]*in[2]*in[3], budget), nil
}

// Prepare reads the job's backbone graph cut at its tap, through its
// allowed roots, without an engine.
func Prepare(c *api.RunSpec) (*native.Prepared, error) {
	roots, err := confine.New(c.AllowRoots)
	if err != nil {
		return nil, err
	}
	return native.Prepare(c.Backbone, native.Options{Tags: c.Tags, Signature: c.Signature, Tap: c.Tap, Roots: roots})
}
