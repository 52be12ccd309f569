package features

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
)

// DeviceCopier is a head device that can take memory the backbone
// computed on the same device, device to device (gpu's CUDA ops; the
// TensorFlow engine's tf.DeviceTensor copies into it).
type DeviceCopier interface {
	head.Ops
	// CopyFromDevice copies n floats at device address src into dst at
	// offset.
	CopyFromDevice(dst head.Buffer, offset int, src uintptr, n int) error
}

// deviceFill puts an extraction's features straight into a device
// buffer (Options.Device): TensorFlow's output device to device, cached
// features uploaded.
type deviceFill struct {
	bb    tf.DeviceFeaturer
	ops   DeviceCopier
	buf   head.Buffer
	slots *slots
}

// run computes one batch of samples idx (ascending) into their slots,
// checks them for NaN and Inf and, with a cache, stores them there too.
func (d *deviceFill) run(ctx context.Context, x *tensor.Tensor, idx []int, cache *featcache.Namespace, digests [][sha256.Size]byte, cacheFailed func(error) error, rep *Report) error {
	out, err := d.bb.DeviceFeatures(ctx, x)
	if err != nil {
		return err
	}
	defer out.Release()
	if err := checkAndCache(out, idx, cache, digests, cacheFailed); err != nil {
		return err
	}
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
	return nil
}

// hostCopier is a batch's features where the backbone computed them
// (*tf.DeviceTensor).
type hostCopier interface {
	Host() (*tensor.Tensor, error)
}

// checkAndCache rejects a computed batch (samples idx) with a NaN or Inf
// feature, as head.UploadFeatures does on the host path, with a cache or
// without: features that stay on the device would otherwise reach the
// head unchecked. With a cache it also stores them; that copy to the
// host is the only one the device path makes (TensorFlow's output read
// back once, a batch at a time).
func checkAndCache(out hostCopier, idx []int, cache *featcache.Namespace, digests [][sha256.Size]byte, cacheFailed func(error) error) error {
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
		if cache == nil {
			continue
		}
		if err := cache.Put(digests[i], f); err != nil {
			if err = cacheFailed(err); err != nil {
				return err
			}
		}
	}
	return nil
}

// openDevice sets up the device buffer when Options.Device takes the
// backbone's output: every usable sample gets its slot in one device
// buffer (sample order, bad files left out: slot = index - bad files
// before it). It says whether it did.
func (x *extraction) openDevice(bad []error) bool {
	dfb, ok := x.bb.(tf.DeviceFeaturer)
	if !ok || x.o.Device == nil || !x.resident {
		return false
	}
	usable := 0
	for _, e := range bad {
		if e == nil {
			usable++
		}
	}
	buf, err := x.o.Device.Alloc(max(usable, 1) * x.set.Size)
	if err != nil {
		x.o.Log.Warn("features do not fit the device: extracting them on the host", zap.Error(err))
		return false
	}
	x.dev = &deviceFill{bb: dfb, ops: x.o.Device, buf: buf, slots: newSlots(bad)}
	x.onDev = make([]bool, len(bad))
	return true
}

// runOnDevice runs decoded images [b, e) of dec (samples
// part[dec.Index[j]]) into their device slots.
func (x *extraction) runOnDevice(ctx context.Context, batch *tensor.Tensor, dec *dataset.Decoded, part []int, b, e int) error {
	idx := make([]int, e-b)
	for j := b; j < e; j++ {
		idx[j-b] = part[dec.Index[j]]
	}
	if err := x.dev.run(ctx, batch, idx, x.cache, x.digests, x.cacheFailed, x.rep); err != nil {
		return fmt.Errorf("features: backbone on %s...: %w", dec.IDs[b], err)
	}
	for _, i := range idx {
		x.have[i], x.onDev[i] = true, true
	}
	x.rep.Computed += len(idx)
	return nil
}

// uploadHits uploads the cached samples' features (read into their host
// slots) into their device slots.
func (x *extraction) uploadHits() error {
	s := &slots{bad: x.dev.slots.bad} // counted again from the start
	for i, ok := range x.have {
		if !ok || x.onDev[i] {
			continue
		}
		f := x.slot(i)
		if err := finite(f, i); err != nil {
			return err
		}
		if err := x.dev.ops.Upload(x.dev.buf, s.slot(i)*x.set.Size, f); err != nil {
			return err
		}
		x.rep.Uploaded++
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
