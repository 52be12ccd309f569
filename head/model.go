package head

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model is a head being trained on one device: its spec, its parameters,
// gradients and optimizer slots in that device's buffers, the step count
// and the shuffling RNG. Everything needed to resume is in its checkpoint.
type Model struct {
	Spec      Spec
	Optimizer Optimizer
	Seed      uint64
	// Step counts optimizer updates, from 0.
	Step int
	// Dropout is the rate of dropout on the dense layer's input while
	// training (0: none); ClassWeights weighs each class's loss (nil: all
	// 1). Neither is saved with the head: the run's config holds them.
	Dropout      float32
	ClassWeights []float32

	ops    Ops
	layout Layout
	params Buffer
	grads  Buffer
	slots  []Buffer
	rng    *rand.PCG
}

// New initialises a head as Keras does (Glorot-uniform kernels, zero
// biases) from seed, on the device behind ops.
func New(ops Ops, spec Spec, opt Optimizer, seed uint64) (*Model, error) {
	m, err := alloc(ops, spec, opt, seed)
	if err != nil {
		return nil, err
	}
	if err := ops.Upload(m.params, 0, initParams(spec, m.layout, seed)); err != nil {
		m.Close()
		return nil, err
	}
	return m, nil
}

func alloc(ops Ops, spec Spec, opt Optimizer, seed uint64) (*Model, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if err := opt.Validate(); err != nil {
		return nil, err
	}
	m := &Model{Spec: spec, Optimizer: opt, Seed: seed, ops: ops, layout: spec.Layout(), rng: rand.NewPCG(seed, shuffleStream)}
	var err error
	if m.params, err = ops.Alloc(m.layout.Total); err != nil {
		return nil, fmt.Errorf("head: parameters: %w", err)
	}
	if m.grads, err = ops.Alloc(m.layout.Total); err != nil {
		m.Close()
		return nil, fmt.Errorf("head: gradients: %w", err)
	}
	for range opt.Slots() {
		s, err := ops.Alloc(m.layout.Total)
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("head: optimizer state: %w", err)
		}
		m.slots = append(m.slots, s)
	}
	return m, nil
}

// Streams of the seed: one for initialisation, one for shuffling, so that
// changing one never shifts the other.
const (
	initStream    = 1
	shuffleStream = 2
)

// initParams draws Glorot-uniform kernels, limit sqrt(6/(fan_in+fan_out))
// with Keras's fans (receptive field times channels), and zero biases.
func initParams(spec Spec, lay Layout, seed uint64) []float32 {
	rng := rand.New(rand.NewPCG(seed, initStream))
	p := make([]float32, lay.Total)
	for _, t := range lay.Tensors[:] {
		var fanIn, fanOut int
		switch t.Name {
		case ConvKernel:
			rf := spec.Kernel * spec.Kernel
			fanIn, fanOut = rf*spec.Channels, rf*spec.Filters
		case DenseKernel:
			fanIn, fanOut = spec.Pooled(), spec.Classes
		default:
			continue
		}
		limit := math.Sqrt(6 / float64(fanIn+fanOut))
		for i := range p[t.Offset : t.Offset+t.Size] {
			p[t.Offset+i] = float32((2*rng.Float64() - 1) * limit)
		}
	}
	return p
}

// Close frees the model's device buffers.
func (m *Model) Close() {
	for _, b := range append([]Buffer{m.params, m.grads}, m.slots...) {
		if b != nil {
			m.ops.Free(b)
		}
	}
	m.params, m.grads, m.slots = nil, nil, nil
}

// Layout is the flat parameter layout.
func (m *Model) Layout() Layout { return m.layout }

// Ops is the device the model lives on.
func (m *Model) Ops() Ops { return m.ops }

// Params downloads the parameters to the host.
func (m *Model) Params() ([]float32, error) {
	p := make([]float32, m.layout.Total)
	return p, m.ops.Download(p, m.params, 0)
}

// TrainBatch runs one optimizer step on the samples idx of feats.
func (m *Model) TrainBatch(feats Buffer, idx, labels []int32) (Stats, error) {
	var st Stats
	var err error
	if x := m.extras(labels); !x.empty() {
		xo, ok := m.ops.(ExtrasOps)
		if !ok {
			return st, fmt.Errorf("head: %s trains without dropout and class weights: train on the cpu", m.ops.Device())
		}
		st, err = xo.GradientsWith(m.Spec, m.params, feats, idx, labels, m.grads, x)
	} else {
		st, err = m.ops.Gradients(m.Spec, m.params, feats, idx, labels, m.grads)
	}
	if err != nil {
		return st, err
	}
	if err := m.ops.Update(m.Optimizer, m.layout, m.Step+1, m.params, m.grads, m.slots); err != nil {
		return st, err
	}
	m.Step++
	return st, nil
}

// Source hands a model the features of a batch on the model's device:
// the buffer and the indices of the batch's samples inside it. Resident
// features answer with one buffer for everything; streamed features copy
// each batch in.
type Source interface {
	Batch(idx []int32) (Buffer, []int32, error)
}

// Prefetcher is a Source that can start gathering a batch before it is
// asked for it, so that reading features overlaps the current step.
type Prefetcher interface {
	Prefetch(idx []int32)
}

// Resident is a Source whose features all sit in one device buffer.
type Resident struct{ Buf Buffer }

// Batch implements Source.
func (r Resident) Batch(idx []int32) (Buffer, []int32, error) { return r.Buf, idx, nil }

// Epoch trains on every sample of src once, in an order drawn from the
// model's RNG, in batches of batchSize (the last one may be smaller).
// labels holds one label per sample. after, if set, runs after each step.
func (m *Model) Epoch(src Source, labels []int32, batchSize int, after func(Stats) error) (Stats, error) {
	if batchSize < 1 {
		return Stats{}, fmt.Errorf("%w: batch size %d", ErrShape, batchSize)
	}
	order := m.Shuffle(len(labels))
	var total Stats
	batchLabels := make([]int32, 0, batchSize)
	for lo := 0; lo < len(order); lo += batchSize {
		idx := order[lo:min(lo+batchSize, len(order))]
		batchLabels = batchLabels[:0]
		for _, i := range idx {
			batchLabels = append(batchLabels, labels[i])
		}
		buf, local, err := src.Batch(idx)
		if err != nil {
			return total, err
		}
		if p, ok := src.(Prefetcher); ok && lo+batchSize < len(order) {
			p.Prefetch(order[lo+batchSize : min(lo+2*batchSize, len(order))])
		}
		st, err := m.TrainBatch(buf, local, batchLabels)
		if err != nil {
			return total, fmt.Errorf("head: step %d: %w", m.Step+1, err)
		}
		total.Add(st)
		if after != nil {
			if err := after(st); err != nil {
				return total, err
			}
		}
	}
	return total, nil
}

// Shuffle returns a permutation of [0, n) drawn from the model's RNG.
func (m *Model) Shuffle(n int) []int32 {
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	rand.New(m.rng).Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// Logits returns the logits of the first n samples of src (n x classes),
// computed in batches of batchSize, without training.
func (m *Model) Logits(src Source, n, batchSize int) ([]float32, error) {
	if batchSize < 1 {
		return nil, fmt.Errorf("%w: batch size %d", ErrShape, batchSize)
	}
	k := m.Spec.Classes
	out := make([]float32, n*k)
	idx := make([]int32, 0, batchSize)
	for lo := 0; lo < n; lo += batchSize {
		hi := min(lo+batchSize, n)
		idx = idx[:0]
		for i := lo; i < hi; i++ {
			idx = append(idx, int32(i))
		}
		buf, local, err := src.Batch(idx)
		if err != nil {
			return nil, err
		}
		if err := m.ops.Logits(m.Spec, m.params, buf, local, out[lo*k:hi*k]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Eval is a model's loss and accuracy on labelled samples.
type Eval struct {
	Stats
	// Top5 counts samples whose label is among the five largest logits.
	Top5 int
	// Predicted is each sample's class: its largest logit (the first on
	// ties, as evaluate.ScoreProbabilities picks), for per-class scores.
	Predicted []int
}

// Evaluate returns the loss, accuracy and top-5 accuracy on every sample
// of src (one label each), without training.
func (m *Model) Evaluate(src Source, labels []int32, batchSize int) (Eval, error) {
	logits, err := m.Logits(src, len(labels), batchSize)
	if err != nil {
		return Eval{}, err
	}
	k := m.Spec.Classes
	st, err := SoftmaxCrossEntropy(logits, labels, k, m.Spec.LabelSmoothing, make([]float32, len(logits)))
	if err != nil {
		return Eval{}, err
	}
	e := Eval{Stats: st, Predicted: make([]int, len(labels))}
	for i, y := range labels {
		z := logits[i*k : (i+1)*k]
		if InTopK(z, int(y), 5) {
			e.Top5++
		}
		for j, v := range z {
			if v > z[e.Predicted[i]] {
				e.Predicted[i] = j
			}
		}
	}
	return e, nil
}

// InTopK reports whether class y is among the k largest logits (ties
// count against y).
func InTopK(z []float32, y, k int) bool {
	above := 0
	for j, v := range z {
		if v > z[y] || (v == z[y] && j < y) {
			above++
		}
	}
	return above < k
}

// Softmax replaces logits by probabilities, stably.
func Softmax(z []float32) {
	maxZ := z[0]
	for _, v := range z {
		maxZ = max(maxZ, v)
	}
	var sum float64
	for i, v := range z {
		e := math.Exp(float64(v - maxZ))
		z[i] = float32(e)
		sum += e
	}
	for i := range z {
		z[i] = float32(float64(z[i]) / sum)
	}
}
