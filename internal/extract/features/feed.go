package features

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/dataset"
)

// decodeChunk is how many images are decoded at once before they go
// through the backbone, unless a Plan says fewer: it bounds the decoded
// pixels held in memory.
const decodeChunk = 2048

// compute decodes the samples the cache did not hold and feeds them to the
// backbone in batches, storing each sample's features as its batch comes
// back. Decoding runs ahead on its own goroutine, a part at a time, so
// that it fills the cores the backbone leaves idle between its ops
// instead of stopping it: the first part is one batch (the backbone
// starts at once), the others half a chunk, so the part being decoded
// and the part in the backbone hold no more decoded pixels than a chunk.
func (x *extraction) compute(ctx context.Context, misses []int) error {
	progress := func(int) {}
	if x.o.Progress != nil && len(misses) > 0 {
		progress = func(done int) { x.o.Progress(done, len(misses)) }
	}
	progress(0)
	ctx, cancel := context.WithCancel(ctx)
	parts := make(chan decodedPart)
	// A part's pixels, once through the backbone, are the decoder's
	// buffer for a later part: the garbage of a part a turn would
	// otherwise add a chunk's worth to the peak before a collection.
	done := make(chan []float32, 2)
	go x.decodeAhead(ctx, misses, parts, done)
	defer func() { // the decoder stopped before the extraction returns
		cancel()
		for range parts {
		}
	}()
	for d := range parts {
		x.rep.DecodeSeconds += d.seconds
		dec, part, err := d.dec, d.part, d.err
		if errors.Is(err, dataset.ErrEmpty) && dec != nil { // all bad, all listed
			x.rep.Bad = append(x.rep.Bad, dec.Bad...)
			if x.dev != nil {
				x.dev.slots.decoded(part, nil)
			}
			progress(d.lo + len(part))
			continue
		}
		if err != nil {
			return err
		}
		x.rep.Bad = append(x.rep.Bad, dec.Bad...)
		if x.dev != nil {
			x.dev.slots.decoded(part, dec.Index)
		}
		t0 := time.Now()
		for b := 0; b < dec.Len(); b += x.o.Batch {
			e := min(b+x.o.Batch, dec.Len())
			if err := x.runBatch(ctx, dec, part, b, e); err != nil {
				return err
			}
			progress(d.lo + len(dec.Bad) + e) // the part's bad files count as done
		}
		x.rep.BackboneSeconds += time.Since(t0).Seconds()
		select {
		case done <- dec.Images[:cap(dec.Images)]:
		default:
		}
	}
	return ctx.Err()
}

// decodedPart is one part of an extraction's misses, decoded: misses
// [lo, lo+len(part)), the time its decoding took, and its error.
type decodedPart struct {
	lo      int
	part    []int
	dec     *dataset.Decoded
	err     error
	seconds float64
}

// decodeAhead decodes misses part by part (compute's sizes) onto parts,
// which it closes after the last part, a failed one, or ctx's end; it
// decodes into the buffers compute hands back on done.
func (x *extraction) decodeAhead(ctx context.Context, misses []int, parts chan<- decodedPart, done <-chan []float32) {
	defer close(parts)
	in := x.bb.Input().Shape
	size := max(x.o.Batch, x.o.Chunk/2/x.o.Batch*x.o.Batch)
	for lo, n := 0, x.o.Batch; lo < len(misses); lo, n = lo+n, size {
		part := misses[lo:min(lo+n, len(misses))]
		var buf []float32
		select {
		case buf = <-done:
		default:
		}
		t0 := time.Now()
		dec, err := dataset.DecodeInto(ctx, buf, x.ds.Pick(part), in[1], in[2], in[3], x.o.Mode, x.o.Policy, x.o.Workers)
		select {
		case parts <- decodedPart{lo: lo, part: part, dec: dec, err: err, seconds: time.Since(t0).Seconds()}:
		case <-ctx.Done():
			return
		}
		if err != nil && !errors.Is(err, dataset.ErrEmpty) {
			return
		}
	}
}

// runBatch runs decoded images [b, e) of dec (samples part[dec.Index[j]])
// through the backbone and stores their features.
func (x *extraction) runBatch(ctx context.Context, dec *dataset.Decoded, part []int, b, e int) error {
	in, size := x.bb.Input().Shape, x.set.Size
	px := in[1] * in[2] * in[3]
	batch, err := tensor.FromFloat32(dec.Images[b*px:e*px], e-b, in[1], in[2], in[3])
	if err != nil {
		return err
	}
	if x.dev != nil {
		return x.runOnDevice(ctx, batch, dec, part, b, e)
	}
	out, err := x.bb.Features(ctx, batch)
	if err != nil {
		return fmt.Errorf("features: backbone on %s...: %w", dec.IDs[b], err)
	}
	if out.Len() != (e-b)*size {
		return fmt.Errorf("features: backbone returned %v for %d images, expected %v per image", out.Shape, e-b, x.set.Shape)
	}
	for j := b; j < e; j++ {
		if err := x.store(part[dec.Index[j]], out.F32[(j-b)*size:(j-b+1)*size]); err != nil {
			return err
		}
	}
	return nil
}
