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

// ToDevice runs batch through bb and writes row j of its features into
// sample slot rows[j] of dst: device to device when TensorFlow computed
// them on the GPU (onDevice), else (TensorFlow on the CPU: a host
// pointer) by upload. This is the join of the TensorFlow engine and the
// CUDA head: computed features never make a host round trip. Rows whose
// slots follow each other go in one copy.
func ToDevice(ctx context.Context, bb DeviceFeaturer, ops DeviceCopier, dst head.Buffer, rows []int, batch *tensor.Tensor) (onDevice bool, err error) {
	d, err := bb.DeviceFeatures(ctx, batch)
	if err != nil {
		return false, err
	}
	defer d.Release()
	return d.CopyRows(ops, dst, rows)
}

// CopyRows writes row j of d (its first dimension) into sample slot
// rows[j] of dst, as ToDevice does.
func (d *DeviceTensor) CopyRows(ops DeviceCopier, dst head.Buffer, rows []int) (onDevice bool, err error) {
	if d.DType != tensor.Float32 || len(d.Shape) == 0 || d.Shape[0] != len(rows) || d.Shape[0] == 0 {
		return false, fmt.Errorf("tf: features %s%v for %d rows: want float32, one row per image", d.DType, d.Shape, len(rows))
	}
	size := int(d.Bytes/4) / d.Shape[0]
	for _, r := range rows {
		if r < 0 || (r+1)*size > dst.Len() {
			return false, fmt.Errorf("%w: features of sample slot %d (%d floats each) in a buffer of %d floats", head.ErrShape, r, size, dst.Len())
		}
	}
	for j := 0; j < len(rows); {
		k := j + 1 // rows[j:k] go to consecutive slots
		for k < len(rows) && rows[k] == rows[k-1]+1 {
			k++
		}
		n := (k - j) * size
		if d.OnHost {
			err = ops.Upload(dst, rows[j]*size, d.HostFloats()[j*size:j*size+n])
		} else {
			err = ops.CopyFromDevice(dst, rows[j]*size, d.Ptr+uintptr(4*j*size), n)
		}
		if err != nil {
			return false, err
		}
		j = k
	}
	return !d.OnHost, nil
}
