package features

import (
	"errors"
	"fmt"
	"slices"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/head"
)

// Streamer is a head device with its own streaming of features (gpu's
// CUDA ops: pinned double buffers on a copy stream). The source it
// returns is an io.Closer: its buffers and stream.
type Streamer interface {
	NewFeatureStream(sampleSize, maxBatch int, sample func(i int, dst []float32) error) (head.Source, error)
}

// Place puts set on ops for a head of spec: all of it when it is in
// memory and fits the device, else batches of up to batch samples at a
// time (from host memory or the cache). It returns the source and the
// buffers the caller frees after the source (a source that is an
// io.Closer is closed first).
func Place(ops head.Ops, spec head.Spec, set *Set, batch int, log *zap.Logger) (head.Source, []head.Buffer, error) {
	if set.OnDevice != nil { // extracted onto the device (the caller frees it)
		return head.Resident{Buf: set.OnDevice}, nil, nil
	}
	if !set.Resident() {
		return Stream(ops, set, batch)
	}
	buf, err := head.PlaceFeatures(ops, spec, set.Features) // the CPU head reads set.Features in place
	if errors.Is(err, head.ErrOutOfMemory) {
		log.Warn("features do not fit the device: streaming them batch by batch", zap.String("device", ops.Device()), zap.Error(err))
		return Stream(ops, set, batch)
	}
	if err != nil {
		return nil, nil, err
	}
	return head.Resident{Buf: buf}, []head.Buffer{buf}, nil
}

// Stream sets up a source that copies each batch, of at most batch
// samples (the batch size of whoever reads the source), to ops.
func Stream(ops head.Ops, set *Set, batch int) (head.Source, []head.Buffer, error) {
	if fs, ok := ops.(Streamer); ok {
		src, err := fs.NewFeatureStream(set.Size, max(1, min(batch, set.Len())), set.Sample)
		if err != nil {
			return nil, nil, err
		}
		return src, nil, nil
	}
	n := max(1, min(batch, set.Len())) * set.Size
	buf, err := ops.Alloc(n)
	if err != nil {
		return nil, nil, err
	}
	return &streamed{ops: ops, set: set, buf: buf, host: make([]float32, n)}, []head.Buffer{buf}, nil
}

// streamed copies each batch's features from memory or the cache to the
// device. While a step computes, the next batch's features are read into
// the host buffer (Prefetch); the upload itself stays synchronous.
type streamed struct {
	ops   head.Ops
	set   *Set
	buf   head.Buffer
	host  []float32
	local []int32
	// pending is the batch being read ahead, done its result.
	pending []int32
	done    chan error
}

func (s *streamed) fill(idx []int32) error {
	size := s.set.Size
	if len(idx)*size > len(s.host) {
		return fmt.Errorf("features: a batch of %d samples for a streaming buffer of %d", len(idx), len(s.host)/size)
	}
	for j, i := range idx {
		if err := s.set.Sample(int(i), s.host[j*size:(j+1)*size]); err != nil {
			return err
		}
	}
	return nil
}

// Prefetch implements head.Prefetcher.
func (s *streamed) Prefetch(idx []int32) {
	s.wait()
	s.pending, s.done = idx, make(chan error, 1)
	go func() { s.done <- s.fill(idx) }()
}

// wait finishes a read-ahead and returns its error.
func (s *streamed) wait() error {
	if s.done == nil {
		return nil
	}
	err := <-s.done
	s.done = nil
	return err
}

// Close finishes a read-ahead: none outlives the run. The buffer is the
// caller's (Stream returned it).
func (s *streamed) Close() error {
	s.wait()
	return nil
}

// Batch implements head.Source.
func (s *streamed) Batch(idx []int32) (head.Buffer, []int32, error) {
	ahead := s.done != nil && slices.Equal(s.pending, idx)
	err := s.wait()
	if !ahead {
		err = s.fill(idx)
	}
	if err != nil {
		return nil, nil, err
	}
	s.local = s.local[:0]
	for j := range idx {
		s.local = append(s.local, int32(j))
	}
	return s.buf, s.local, s.ops.Upload(s.buf, 0, s.host[:len(idx)*s.set.Size])
}
