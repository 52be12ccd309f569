package features

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/featcache"
)

// deviceFill puts an extraction's features straight into a device
// buffer (Options.Device): TensorFlow's output device to device, cached
// features uploaded.
type deviceFill struct {
	bb    tf.DeviceFeaturer
	ops   tf.DeviceCopier
	buf   head.Buffer
	slots *slots
}

// run computes one batch of samples idx (ascending) into their slots and,
// with a cache, stores them there too: the cache's copy is the only one
// that leaves the device.
func (d *deviceFill) run(ctx context.Context, x *tensor.Tensor, idx []int, cache *featcache.Namespace, digests [][sha256.Size]byte, cacheFailed func(error) error, rep *Report) error {
	out, err := d.bb.DeviceFeatures(ctx, x)
	if err != nil {
		return err
	}
	defer out.Release()
	rows := make([]int, len(idx))
	for j, i := range idx {
		rows[j] = d.slots.slot(i)
	}
	onDevice, err := out.CopyRows(d.ops, d.buf, rows)
	if err != nil {
		return err
	}
	if onDevice {
		rep.DeviceCopied += len(idx)
	} else {
		rep.Uploaded += len(idx)
	}
	if cache == nil {
		return nil
	}
	host, err := out.Host()
	if err != nil {
		return err
	}
	size := host.Len() / len(idx)
	for j, i := range idx {
		f := host.F32[j*size : (j+1)*size]
		if err := finite(f, i); err != nil {
			return err
		}
		if err := cache.Put(digests[i], f); err != nil {
			if err = cacheFailed(err); err != nil {
				return err
			}
		}
	}
	return nil
}

// uploadHits uploads the cached samples' features (feats[i] non-empty)
// into their slots and drops the host copies.
func (d *deviceFill) uploadHits(feats [][]float32, size int, rep *Report) error {
	s := &slots{bad: d.slots.bad} // counted again from the start
	for i, f := range feats {
		if len(f) == 0 {
			continue
		}
		if err := finite(f, i); err != nil {
			return err
		}
		if err := d.ops.Upload(d.buf, s.slot(i)*size, f); err != nil {
			return err
		}
		feats[i] = []float32{}
		rep.Uploaded++
	}
	return nil
}

// finite rejects the features of sample i when one is NaN or Inf, as
// head.UploadFeatures does on the host path.
func finite(f []float32, i int) error {
	for k, v := range f {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: feature %d of sample %d is %v: the backbone produced it from that sample's input; check the image and the preprocessing", head.ErrNonFinite, k, i, v)
		}
	}
	return nil
}

// slots maps a sample index to its slot among the usable samples: the
// index less the bad samples before it. Asked in ascending order, it
// counts as it goes.
type slots struct {
	bad     []bool
	at, nbd int // bad samples before index at
}

func newSlots(bad []error) *slots {
	s := &slots{bad: make([]bool, len(bad))}
	for i, e := range bad {
		s.bad[i] = e != nil
	}
	return s
}

// decoded marks the samples of part that did not decode (those not in
// index) as bad.
func (s *slots) decoded(part, index []int) {
	ok := make(map[int]bool, len(index))
	for _, j := range index {
		ok[part[j]] = true
	}
	for _, i := range part {
		if !ok[i] {
			s.bad[i] = true
		}
	}
}

func (s *slots) slot(i int) int {
	for ; s.at < i; s.at++ {
		if s.bad[s.at] {
			s.nbd++
		}
	}
	return i - s.nbd
}
