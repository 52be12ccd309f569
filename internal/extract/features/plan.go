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
	// Fixed is what the backbone holds whatever the batch: its graph's
	// weights, the engine's packed and transformed copies of them and its
	// workers' scratch (native.Fixed).
	Fixed int64 `json:"fixed"`
	// Bytes is the whole: Fixed, the backbone's run on Batch images and
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
// batches. fixed, the backbone's own bytes, is counted in Bytes but
// takes nothing from the share: no batch size changes it, and a smaller
// batch would only run slower.
func PlanFor(n int, perImage, fixed int64, pixels int, budget int64) Plan {
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
	return Plan{Batch: batch, Chunk: chunk, Fixed: fixed, Bytes: fixed + int64(batch)*perImage + int64(chunk)*4*int64(pixels)}
}

// PlanJob sizes the extraction of n samples through bb, the job c's
// backbone, within budget (PlanFor's), in the process that runs it (on
// GOMAXPROCS workers). The working set per image is the native engine's
// arena replayed on the graph (native.WorkingSet), its fixed bytes
// native.Fixed; the TensorFlow engine runs the same graph, so its
// activations and weights are taken to be the same size. An error means
// the native engine cannot replay the graph: callers keep the fixed
// sizes (Options' defaults).
func PlanJob(c *api.RunSpec, bb backbone.Backbone, n int, budget int64) (Plan, error) {
	if nb, ok := bb.(*native.Backbone); ok {
		mem, err := nb.Memory(maxPlanBatch(n), 0)
		if err != nil {
			return Plan{}, err
		}
		return planMemory(mem, bb.Input().Shape, n, budget), nil
	}
	prep, err := Prepare(c)
	if err != nil {
		return Plan{}, err
	}
	return PlanPrepared(prep, n, budget, 0)
}

// PlanPrepared is PlanJob from the prepared graph alone, without a
// backbone (the daemon's admission), its engine on threads workers (<= 0:
// GOMAXPROCS).
func PlanPrepared(p *native.Prepared, n int, budget int64, threads int) (Plan, error) {
	mem, err := p.Memory(maxPlanBatch(n), threads)
	if err != nil {
		return Plan{}, err
	}
	return planMemory(mem, p.Input.Shape, n, budget), nil
}

// maxPlanBatch is the largest batch a plan of n samples can choose: the
// engine's scratch there bounds it at any smaller one.
func maxPlanBatch(n int) int { return min(max(n, 1), maxBatch) }

func planMemory(mem native.Memory, in []int, n int, budget int64) Plan {
	return PlanFor(n, mem.PerImage, mem.Fixed.Bytes(), in[1]*in[2]*in[3], budget)
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
