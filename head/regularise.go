package head

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Extras are a training step's optional terms: a dropout mask on the
// dense layer's input and per-sample loss weights (class weights).
type Extras struct {
	// Mask is len(idx) x spec.Pooled() factors multiplying the pooled
	// activations (0 for a dropped unit, 1/(1-p) for a kept one); nil:
	// no dropout.
	Mask []float32
	// Weights is one loss weight per sample; nil: all 1.
	Weights []float32
}

func (x Extras) empty() bool { return x.Mask == nil && x.Weights == nil }

func (x Extras) check(spec Spec, b int) error {
	if x.Mask != nil && len(x.Mask) != b*spec.Pooled() {
		return fmt.Errorf("%w: dropout mask of %d floats for %d samples x %d units", ErrShape, len(x.Mask), b, spec.Pooled())
	}
	if x.Weights != nil && len(x.Weights) != b {
		return fmt.Errorf("%w: %d sample weights for %d samples", ErrShape, len(x.Weights), b)
	}
	return nil
}

// ExtrasOps is a device that trains with Extras. The CPU ops are one; a
// device that is not refuses dropout and class weights (Model.TrainBatch).
type ExtrasOps interface {
	GradientsWith(spec Spec, params, feats Buffer, idx, labels []int32, grads Buffer, x Extras) (Stats, error)
}

// CheckDropout validates a dropout rate.
func CheckDropout(p float64) error {
	if !(p >= 0 && p < 1) {
		return fmt.Errorf("dropout %v: must be in [0, 1)", p)
	}
	return nil
}

// dropoutStream is the seed's stream for dropout masks (see initStream).
const dropoutStream = 3

// DropoutMask is the inverted-dropout mask of step (counting from 1) for
// b samples of units units each: every unit kept with probability 1-p and
// then scaled by 1/(1-p), as Keras's Dropout. It depends only on (seed,
// step, p), so a resumed run draws the masks an uninterrupted one would.
func DropoutMask(seed uint64, step, b, units int, p float32) []float32 {
	rng := rand.New(rand.NewPCG(seed^dropoutStream<<56, uint64(step)))
	keep := float32(1 / (1 - float64(p)))
	m := make([]float32, b*units)
	for i := range m {
		if rng.Float32() >= p {
			m[i] = keep
		}
	}
	return m
}

// applyMask multiplies x by mask elementwise.
func applyMask(x, mask []float32) {
	for i, m := range mask {
		x[i] *= m
	}
}

// SampleWeights is the per-sample loss weights of labels under class
// weights w (indexed by label); nil when w is nil.
func SampleWeights(w []float32, labels []int32) []float32 {
	if w == nil {
		return nil
	}
	out := make([]float32, len(labels))
	for i, y := range labels {
		out[i] = w[y]
	}
	return out
}

// BalancedWeights is scikit-learn's "balanced" class weights, the ones
// Keras users pass as class_weight: n / (classes * count_c) for each
// class c, from the samples' count per class. A class without samples
// gets weight 0 (it has no loss to weigh).
func BalancedWeights(counts []int) []float64 {
	total := 0
	for _, n := range counts {
		total += n
	}
	w := make([]float64, len(counts))
	for c, n := range counts {
		if n > 0 {
			w[c] = float64(total) / (float64(len(counts)) * float64(n))
		}
	}
	return w
}

// CheckWeight validates one class weight.
func CheckWeight(w float64) error {
	if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
		return fmt.Errorf("class weight %v: must be a finite number >= 0", w)
	}
	return nil
}

// extras is the Extras of the model's next step on a batch.
func (m *Model) extras(labels []int32) Extras {
	var x Extras
	if m.Dropout > 0 {
		x.Mask = DropoutMask(m.Seed, m.Step+1, len(labels), m.Spec.Pooled(), m.Dropout)
	}
	if m.ClassWeights != nil {
		x.Weights = SampleWeights(m.ClassWeights, labels)
	}
	return x
}
