package head

import "errors"

// Errors the ops return; wrapped with context.
var (
	// ErrShape: a buffer, index or label does not fit the spec.
	ErrShape = errors.New("head: shape mismatch")
	// ErrNonFinite: a NaN or Inf appeared in features or in the loss.
	ErrNonFinite = errors.New("head: non-finite value")
	// ErrOutOfMemory: the device cannot hold an allocation. Devices wrap
	// it with the request and their budget; the trainer then streams the
	// features instead of keeping them resident.
	ErrOutOfMemory = errors.New("head: device out of memory")
)

// Buffer is float32 storage on one device. Only the Ops that allocated it
// may use it.
type Buffer interface {
	Len() int
}

// Stats sums one batch's loss and correct predictions.
type Stats struct {
	Loss    float64 // sum of per-sample losses
	Correct int     // samples whose arg-max logit is the label
	Count   int     // samples
}

// Add accumulates another batch.
func (s *Stats) Add(o Stats) {
	s.Loss += o.Loss
	s.Correct += o.Correct
	s.Count += o.Count
}

// Ops is the device-neutral seam between the trainer and a compute device.
// The trainer is written once against it; CPUOps implements it on the host
// and the CUDA ops in gpu/ on a GPU.
//
// Features live in one device buffer holding many samples back to back
// (spec.FeatureSize() floats each); a batch names its samples by index so
// that shuffling never moves features. Implementations are not safe for
// concurrent use.
type Ops interface {
	// Device names the device, e.g. "cpu" or "cuda:0".
	Device() string
	// Alloc returns a zeroed buffer of n floats.
	Alloc(n int) (Buffer, error)
	// Upload copies src into dst starting at offset.
	Upload(dst Buffer, offset int, src []float32) error
	// Download copies len(dst) floats of src, starting at offset, into dst.
	Download(dst []float32, src Buffer, offset int) error
	// Free releases a buffer.
	Free(b Buffer)
	// Gradients runs the forward and backward passes on the samples idx of
	// feats with the given labels and writes the gradient of the mean loss
	// with respect to every parameter into grads (same layout as params).
	Gradients(spec Spec, params, feats Buffer, idx, labels []int32, grads Buffer) (Stats, error)
	// Logits runs the forward pass on the samples idx of feats and writes
	// len(idx) x spec.Classes logits into out.
	Logits(spec Spec, params, feats Buffer, idx []int32, out []float32) error
	// Update applies one optimizer step (step counts from 1) to params,
	// using and updating the optimizer's slot buffers (see Optimizer.Slots).
	Update(opt Optimizer, layout Layout, step int, params, grads Buffer, slots []Buffer) error
}
