package features

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
