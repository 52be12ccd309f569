// Package gpu is the only package that imports gorgonia.org/cu: devices,
// the primary context, streams, the memory pool, module loading, kernel
// launches, error mapping, and the CUDA implementation of head.Ops.
//
// All of it is built only with the cuda tag, into the graft-cuda binary:
// gorgonia.org/cu exits the process from its init when no driver or device
// is present, so the plain graft binary must never link it. Without the
// tag this package is a stub whose functions return ErrNoCUDA.
package gpu
