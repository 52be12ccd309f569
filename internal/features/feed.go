package features

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/dataset"
)

// decodeChunk is how many images are decoded at once before they go
// through the backbone, unless a Plan says fewer: it bounds the decoded
// pixels held in memory.
const decodeChunk = 2048

// compute decodes the samples the cache did not hold and feeds them to the
// backbone in batches, a chunk at a time, storing each sample's features
// as its batch comes back.
func (x *extraction) compute(ctx context.Context, misses []int) error {
	progress := func(int) {}
	if x.o.Progress != nil && len(misses) > 0 {
		progress = func(done int) { x.o.Progress(done, len(misses)) }
	}
	progress(0)
	in := x.bb.Input().Shape
	for lo := 0; lo < len(misses); lo += x.o.Chunk {
		part := misses[lo:min(lo+x.o.Chunk, len(misses))]
		t0 := time.Now()
		dec, err := dataset.Decode(ctx, x.ds.Pick(part), in[1], in[2], in[3], x.o.Mode, x.o.Policy, x.o.Workers)
		x.rep.DecodeSeconds += time.Since(t0).Seconds()
		if errors.Is(err, dataset.ErrEmpty) && dec != nil { // all bad, all listed
			x.rep.Bad = append(x.rep.Bad, dec.Bad...)
			if x.dev != nil {
				x.dev.slots.decoded(part, nil)
			}
			progress(lo + len(part))
			continue
		}
		if err != nil {
			return err
		}
		x.rep.Bad = append(x.rep.Bad, dec.Bad...)
		if x.dev != nil {
			x.dev.slots.decoded(part, dec.Index)
		}
		t0 = time.Now()
		for b := 0; b < dec.Len(); b += x.o.Batch {
			e := min(b+x.o.Batch, dec.Len())
			if err := x.runBatch(ctx, dec, part, b, e); err != nil {
				return err
			}
			progress(lo + len(dec.Bad) + e) // the chunk's bad files count as done
		}
		x.rep.BackboneSeconds += time.Since(t0).Seconds()
	}
	return nil
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
