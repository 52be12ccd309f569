package tf

import (
	"context"
	"fmt"
	"sync"

	"github.com/graft-ml/graft/backbone/tensor"
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
	once    sync.Once
}

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
		d.copyOut = nil
	})
}

// DeviceFeaturer is a backbone that can hand its features over without
// copying them to the host (the eager engine, OpenEager).
type DeviceFeaturer interface {
	// DeviceFeatures runs batch and returns the tap where it was
	// computed; the caller must Release it.
	DeviceFeatures(ctx context.Context, batch *tensor.Tensor) (*DeviceTensor, error)
}
