// Package gpu is the CUDA implementation of head.Ops: devices, the
// primary context, the memory pool and its budget, module loading, kernel
// launches, error mapping and the head's launch sequence.
//
// Every CUDA call goes through a small driver interface (driver.go). Its
// real implementation, cudriver.go, uses gorgonia.org/cu and is built only
// with the graftcuda tag, into the graft-cuda binary: gorgonia.org/cu
// exits the process from its init when no driver or device is present, so
// the plain graft binary must never link it. Without the tag NewOps,
// Available and Devices return ErrNoCUDA. The fake driver (package gpu/gputest) runs
// the same logic on any machine and rejects what a real driver would:
// freed or foreign pointers, copies out of bounds, launches whose
// arguments do not match the kernel's signature in kernels/head.cu, grids
// and blocks over the device limits, and work on streams that is not
// ordered (an upload read without an event wait, pinned memory touched or
// memory freed while a copy or kernel uses it) (docs/cuda.md).
//
// A step runs its kernels on one stream; its indices and labels go up in
// one asynchronous copy from pinned memory and its results come back in
// one. Features that do not stay on the device stream through
// FeatureStream: pinned double buffers uploaded on a second stream,
// ordered by events.
package gpu
