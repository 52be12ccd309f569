package gpu_test

// Streams, events, pinned memory and asynchronous copies against the fake
// driver's ordering model (gpu/gputest/order.go): what it refuses, the training
// step's copies, and the streamed features' double buffers.

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/head"
)

// A training step moves its inputs up in one copy (indices and labels)
// and its results back in one (losses and correct flags), both
// asynchronous, from pinned memory, on the kernels' stream; evaluation
// likewise (indices up, logits back).
func TestStepCopiesOnceEachWay(t *testing.T) {
	for _, spec := range []head.Spec{
		{Height: 5, Width: 3, Channels: 7, Kind: head.KindConv, Filters: 9, Kernel: 3, Classes: 3},
		{Height: 7, Width: 5, Channels: 37, Kind: head.KindLinear, Classes: 5},
	} {
		ops, f := fakeOps(t, 0, gputest.Device{})
		const batch, samples = 6, 9
		trainStep(t, ops, spec, batch, samples)
		s := gpu.ComputeStream(ops)
		want := []gputest.Copy{
			{ToDevice: true, Bytes: 8 * batch, Stream: s}, {Bytes: 16 * batch, Stream: s}, // the step
			{ToDevice: true, Bytes: 4 * samples, Stream: s}, {Bytes: 4 * int64(samples*spec.Classes), Stream: s}, // the evaluation
		}
		if got := f.Copies(); !slices.Equal(got, want) {
			t.Errorf("%s head: async copies %+v, want %+v", spec.Kind, got, want)
		}
	}
}

// The streamed features' double buffers through a whole epoch of
// head.Model: every batch arrives in its slot with the right samples
// (read back from the fake's device memory when the step asks for it),
// the fake finds every use ordered, uploads go on the copy stream, and
// the slots alternate.
func TestFeatureStreamDoubleBuffers(t *testing.T) {
	spec := head.Spec{Height: 3, Width: 2, Channels: 4, Kind: head.KindConv, Filters: 5, Kernel: 3, Classes: 3}
	const samples, batch = 23, 5
	size := spec.FeatureSize()
	rng := rand.New(rand.NewPCG(3, 4))
	host := make([]float32, samples*size)
	labels := make([]int32, samples)
	for i := range host {
		host[i] = float32(rng.NormFloat64())
	}
	for i := range labels {
		labels[i] = int32(i % spec.Classes)
	}
	ops, f := fakeOps(t, 0, gputest.Device{})
	src, err := ops.NewFeatureStream(size, batch, func(i int, dst []float32) error {
		copy(dst, host[i*size:(i+1)*size])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := src.(*gpu.FeatureStream)
	t.Cleanup(func() { _ = fs.Close() }) // before the ops' (cleanups run last first)
	opt, _ := head.NewOptimizer(head.Adam)
	m, err := head.New(ops, spec, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	check := &checkedSource{t: t, fs: fs, f: f, host: host, size: size}
	for range 2 {
		if _, err := m.Epoch(check, labels, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Evaluate(check, labels, batch); err != nil {
		t.Fatal(err)
	}
	steps := 2*((samples+batch-1)/batch) + (samples+batch-1)/batch
	if check.batches != steps {
		t.Errorf("%d batches, want %d", check.batches, steps)
	}
	uploads := 0
	for _, c := range f.Copies() {
		if c.ToDevice && c.Stream == gpu.CopyStream(fs) {
			uploads++
		}
	}
	if uploads != steps {
		t.Errorf("%d uploads on the copy stream, want one per batch (%d)", uploads, steps)
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if f.PinnedBuffers() != 2 { // the step's own staging buffers remain
		t.Errorf("%d pinned buffers after closing the stream, want the ops' 2", f.PinnedBuffers())
	}
}

// checkedSource is a FeatureStream whose batches are compared with the
// samples they should hold.
type checkedSource struct {
	t       *testing.T
	fs      *gpu.FeatureStream
	f       *gputest.Fake
	host    []float32
	size    int
	batches int
	last    gpu.DevicePtr
}

func (c *checkedSource) Prefetch(idx []int32) { c.fs.Prefetch(idx) }

func (c *checkedSource) Batch(idx []int32) (head.Buffer, []int32, error) {
	buf, local, err := c.fs.Batch(idx)
	if err != nil {
		return nil, nil, err
	}
	c.batches++
	ptr := gpu.BufferPtr(buf)
	if ptr == c.last {
		c.t.Errorf("batch %d: the same slot as the batch before", c.batches)
	}
	c.last = ptr
	b, err := c.f.Read(ptr, int64(4*c.size*len(idx)))
	if err != nil {
		c.t.Fatal(err)
	}
	got := make([]float32, len(b)/4)
	for i := range got {
		got[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	for j, i := range idx {
		if lj := local[j]; !slices.Equal(got[int(lj)*c.size:(int(lj)+1)*c.size], c.host[int(i)*c.size:(int(i)+1)*c.size]) {
			c.t.Fatalf("batch %d: sample %d is not in the slot at %d", c.batches, i, lj)
		}
	}
	return buf, local, nil
}
