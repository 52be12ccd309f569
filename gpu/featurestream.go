package gpu

import (
	"fmt"
	"slices"

	"github.com/graft-ml/graft/head"
)

// FeatureStream is a head.Source for features that do not stay on the
// device: each batch is copied in from pinned host memory on a second
// stream, while the previous batch computes. Two slots, each a device
// buffer and a pinned buffer, alternate; events order them:
//
//   - ready (on the copy stream, after a slot's upload): the compute
//     stream waits for it before the step that reads the slot;
//   - free (on the compute stream, once the step reading a slot has been
//     issued): the copy stream waits for it before uploading into the
//     slot again, and the host waits for the slot's last upload (ready)
//     before refilling its pinned buffer.
//
// Prefetch fills the other slot's pinned buffer and issues its upload
// from a goroutine; Batch waits for it. The fake driver checks the whole
// protocol (gpu/featurestream_test.go).
type FeatureStream struct {
	o      *CUDAOps
	size   int // floats per sample
	max    int // samples per batch
	sample func(i int, dst []float32) error
	copy   Stream
	slots  [2]*streamSlot
	cur    int // slot of the last Batch; -1 before the first
	local  []int32
	// pending is the batch being prefetched into slot 1-cur, done its
	// result.
	pending []int32
	done    chan error
}

type streamSlot struct {
	dev         *buffer
	host        HostPtr
	ready, free Event
}

// NewFeatureStream sets up streaming of batches of up to maxBatch samples
// of sampleSize floats; sample(i, dst) reads sample i into dst (pinned
// memory). The source is a *FeatureStream (features.Streamer asks for
// a head.Source); Close it before the ops.
func (o *CUDAOps) NewFeatureStream(sampleSize, maxBatch int, sample func(i int, dst []float32) error) (head.Source, error) {
	if sampleSize < 1 || maxBatch < 1 {
		return nil, fmt.Errorf("%w: feature stream of %d samples of %d floats", head.ErrShape, maxBatch, sampleSize)
	}
	fs := &FeatureStream{o: o, size: sampleSize, max: maxBatch, sample: sample, cur: -1}
	bytes := 4 * int64(sampleSize) * int64(maxBatch)
	err := o.ctx.Do(func() error {
		var err error
		if fs.copy, err = o.ctx.NewStream(); err != nil {
			return cudaError("create the copy stream", err)
		}
		for i := range fs.slots {
			s := &streamSlot{}
			fs.slots[i] = s
			if s.dev, err = o.alloc(bytes); err != nil {
				return err
			}
			s.dev.n = sampleSize * maxBatch
			if s.host, err = o.ctx.AllocHost(bytes); err != nil {
				return cudaError("allocate pinned memory for streamed features", err)
			}
			if s.ready, err = o.ctx.NewEvent(); err != nil {
				return cudaError("create an event", err)
			}
			if s.free, err = o.ctx.NewEvent(); err != nil {
				return cudaError("create an event", err)
			}
		}
		return nil
	})
	if err != nil {
		fs.Close()
		return nil, err
	}
	return fs, nil
}

// stage fills slot k's pinned buffer with the batch's samples and issues
// its upload on the copy stream. It runs on its own goroutine for a
// prefetch: it touches only the slot and the copy stream.
func (fs *FeatureStream) stage(k int, idx []int32) error {
	s, n := fs.slots[k], int64(4*fs.size*len(idx))
	if s == nil || fs.o.ctx == nil {
		return fmt.Errorf("gpu: feature stream used after Close")
	}
	return fs.o.ctx.Do(func() error {
		// The host may rewrite the pinned buffer once its last upload is
		// done.
		if err := fs.o.ctx.SyncEvent(s.ready); err != nil {
			return cudaError("wait for the previous upload", err)
		}
		b, err := fs.o.ctx.HostBytes(s.host)
		if err != nil {
			return cudaError("streamed features", err)
		}
		host := floatsOf(b)
		for j, i := range idx {
			if err := fs.sample(int(i), host[j*fs.size:(j+1)*fs.size]); err != nil {
				return err
			}
		}
		// The device buffer may be overwritten once the step that read
		// it is done.
		if err := fs.o.ctx.WaitEvent(fs.copy, s.free); err != nil {
			return cudaError("order the upload after the last step", err)
		}
		if err := fs.o.ctx.CopyHtoDAsync(s.dev.ptr, s.host, 0, n, fs.copy); err != nil {
			return cudaError("upload streamed features", err)
		}
		return cudaError("record the upload", fs.o.ctx.Record(s.ready, fs.copy))
	})
}

// Prefetch implements head.Prefetcher: the next batch goes into the
// other slot while this one computes.
func (fs *FeatureStream) Prefetch(idx []int32) {
	_ = fs.wait()
	if len(idx) > fs.max || len(idx) == 0 {
		return
	}
	next := (fs.cur + 1) % 2
	fs.pending, fs.done = slices.Clone(idx), make(chan error, 1)
	go func() { fs.done <- fs.stage(next, fs.pending) }()
}

func (fs *FeatureStream) wait() error {
	if fs.done == nil {
		return nil
	}
	err := <-fs.done
	fs.done = nil
	return err
}

// Batch implements head.Source: the batch's features in a device buffer
// that the compute stream may read, and the samples' positions in it.
func (fs *FeatureStream) Batch(idx []int32) (head.Buffer, []int32, error) {
	if len(idx) > fs.max {
		return nil, nil, fmt.Errorf("%w: a batch of %d samples for a feature stream of %d", head.ErrShape, len(idx), fs.max)
	}
	if fs.slots[0] == nil || fs.o.ctx == nil {
		return nil, nil, fmt.Errorf("gpu: feature stream used after Close")
	}
	ahead := fs.done != nil && slices.Equal(fs.pending, idx)
	err := fs.wait()
	next := (fs.cur + 1) % 2
	if err == nil {
		// Everything issued so far on the compute stream reads the
		// current slot: that is when it is free again.
		err = fs.o.ctx.Do(func() error {
			if fs.cur >= 0 {
				if err := fs.o.ctx.Record(fs.slots[fs.cur].free, fs.o.compute); err != nil {
					return cudaError("record the end of a step", err)
				}
			}
			return nil
		})
	}
	if err == nil && !ahead {
		err = fs.stage(next, idx)
	}
	if err == nil {
		err = fs.o.ctx.Do(func() error {
			return cudaError("order the step after its upload", fs.o.ctx.WaitEvent(fs.o.compute, fs.slots[next].ready))
		})
	}
	if err != nil {
		return nil, nil, err
	}
	fs.cur = next
	fs.local = fs.local[:0]
	for j := range idx {
		fs.local = append(fs.local, int32(j))
	}
	return fs.slots[next].dev, fs.local, nil
}

// Close waits for a prefetch and the device, then frees the slots.
func (fs *FeatureStream) Close() error {
	first := fs.wait()
	o := fs.o
	if o.ctx == nil {
		return first
	}
	err := o.ctx.Do(func() error {
		err := cudaError("synchronise before freeing streamed features", o.ctx.Synchronize())
		keep := func(e error) {
			if err == nil && e != nil {
				err = cudaError("free streamed features", e)
			}
		}
		for _, s := range fs.slots {
			if s == nil {
				continue
			}
			if s.dev != nil {
				o.pool.release(s.dev.ptr, s.dev.size)
			}
			if s.host != 0 {
				keep(o.ctx.FreeHost(s.host))
			}
			for _, e := range []Event{s.ready, s.free} {
				if e != 0 {
					keep(o.ctx.DestroyEvent(e))
				}
			}
		}
		if fs.copy != 0 {
			keep(o.ctx.DestroyStream(fs.copy))
		}
		return err
	})
	fs.slots = [2]*streamSlot{}
	if first == nil {
		first = err
	}
	return first
}
