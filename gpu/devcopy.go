package gpu

import (
	"fmt"

	"github.com/graft-ml/graft/head"
)

// CopyFromDevice copies n floats that another library computed on this
// GPU, in the same primary context (TensorFlow's backbone output:
// backbone/tf.DeviceTensor.Ptr), into dst at offset, device to device: such
// features never go through the host. It first waits for every stream of
// the context (cuCtxSynchronize): the producer ran on streams of its own,
// and the copy, like every op here, runs on the default stream.
func (o *CUDAOps) CopyFromDevice(dst head.Buffer, offset int, src uintptr, n int) error {
	d, err := o.device(dst)
	if err != nil {
		return err
	}
	if n < 0 || offset < 0 || offset+n > d.n {
		return fmt.Errorf("%w: device copy of %d floats at %d into a buffer of %d", head.ErrShape, n, offset, d.n)
	}
	if n == 0 {
		return nil
	}
	if src == 0 || src%4 != 0 {
		return fmt.Errorf("gpu: device copy from %#x: not a float32 device address", src)
	}
	return o.ctx.Do(func() error {
		if err := o.ctx.Synchronize(); err != nil {
			return cudaError("wait for the producer of a device copy", err)
		}
		return cudaError("copy within the device", o.ctx.CopyDtoD(d.at(offset), DevicePtr(src), 4*int64(n)))
	})
}
