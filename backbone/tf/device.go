package tf

import (
	"context"
	"fmt"
	"sync"

	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/head"
)

// DeviceTensor is a backbone's output where TensorFlow computed it: Ptr
// is its first byte in the memory of Device (a CUDA device address on a
// GPU, a host address on the CPU), valid until Release. The CUDA head
// copies it device to device into its feature buffer (gpu.CUDAOps.
// CopyFromDevice), so that features computed on a GPU never go through
// the host.
type DeviceTensor struct {
	Ptr   uintptr
	Bytes int64
	DType tensor.DType
	Shape []int
	// Device is the TensorFlow device whose memory holds the tensor, e.g.
	// /job:localhost/replica:0/task:0/device:GPU:0; OnHost says it is
	// host memory (a CPU device).
	Device string
	OnHost bool

	release func()
	copyOut func(dst []byte) error
	host    []float32 // the tensor in place, when OnHost and float32
	once    sync.Once
}

// HostFloats is the tensor in place (at Ptr) when it is float32 in host
// memory, else nil; valid until Release.
func (d *DeviceTensor) HostFloats() []float32 { return d.host }

// Host copies the tensor into host memory (from a GPU through
// TensorFlow: the copy the device path avoids).
func (d *DeviceTensor) Host() (*tensor.Tensor, error) {
	raw := make([]byte, d.Bytes)
	if d.copyOut == nil {
		return nil, fmt.Errorf("tf: device tensor used after Release")
	}
	if err := d.copyOut(raw); err != nil {
		return nil, fmt.Errorf("tf: %w", err)
	}
	shape := make([]int64, len(d.Shape))
	for i, s := range d.Shape {
		shape[i] = int64(s)
	}
	return fetchTensor(d.DType, shape, raw)
}

// Release gives the tensor back to TensorFlow; Ptr is invalid after it.
// It may be called more than once.
func (d *DeviceTensor) Release() {
	d.once.Do(func() {
		if d.release != nil {
			d.release()
		}
		d.copyOut, d.host = nil, nil
	})
}

// DeviceFeaturer is a backbone that can hand its features over without
// copying them to the host (the eager engine, OpenEager).
type DeviceFeaturer interface {
	// DeviceFeatures runs batch and returns the tap where it was
	// computed; the caller must Release it.
	DeviceFeatures(ctx context.Context, batch *tensor.Tensor) (*DeviceTensor, error)
}

// DeviceCopier is a head device that can take memory TensorFlow
// computed on the same GPU (gpu.CUDAOps).
type DeviceCopier interface {
	head.Ops
	// CopyFromDevice copies n floats at device address src into dst at
	// offset, device to device.
	CopyFromDevice(dst head.Buffer, offset int, src uintptr, n int) error
}

// ToDevice runs batch through bb and writes its features into dst,
// sample after sample from sample offset: device to device when
// TensorFlow computed them on the GPU (onDevice), else (TensorFlow on the
// CPU: a host pointer) one upload. This is the join of the TensorFlow
// engine and the CUDA head: computed features never make a host round
// trip.
func ToDevice(ctx context.Context, bb DeviceFeaturer, ops DeviceCopier, dst head.Buffer, offset int, batch *tensor.Tensor) (onDevice bool, err error) {
	d, err := bb.DeviceFeatures(ctx, batch)
	if err != nil {
		return false, err
	}
	defer d.Release()
	if d.DType != tensor.Float32 || len(d.Shape) == 0 || batch == nil || len(batch.Shape) == 0 || d.Shape[0] != batch.Shape[0] {
		return false, fmt.Errorf("tf: features %s%v for a batch of %v: want float32, one row per image", d.DType, d.Shape, batchShape(batch))
	}
	n := int(d.Bytes / 4)
	at := offset * (n / d.Shape[0])
	if at < 0 || at+n > dst.Len() {
		return false, fmt.Errorf("%w: %d features at sample %d into a buffer of %d floats", head.ErrShape, n, offset, dst.Len())
	}
	if d.OnHost {
		return false, ops.Upload(dst, at, d.HostFloats())
	}
	return true, ops.CopyFromDevice(dst, at, d.Ptr, n)
}

func batchShape(b *tensor.Tensor) []int {
	if b == nil {
		return nil
	}
	return b.Shape
}
