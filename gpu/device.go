//go:build cuda

package gpu

import (
	"errors"
	"fmt"
	"runtime"

	"gorgonia.org/cu"

	// Initialises the driver before gorgonia.org/cu can exit the process.
	_ "github.com/graft-ml/graft/gpu/internal/cudainit"
)

// Available reports whether at least one GPU is usable.
func Available() error {
	n, err := cu.NumDevices()
	if err != nil {
		return cudaError("count devices", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the CUDA driver sees no GPU", ErrCUDA)
	}
	return nil
}

// DriverVersion is the CUDA driver's version, e.g. 12020 for 12.2.
func DriverVersion() int { return cu.Version() }

// Devices lists the GPUs the driver sees.
func Devices() ([]DeviceInfo, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, cudaError("count devices", err)
	}
	driver := cu.Version()
	list := make([]DeviceInfo, 0, n)
	for i := range n {
		d, err := describe(i)
		if err != nil {
			return nil, err
		}
		d.DriverVersion = driver
		list = append(list, d)
	}
	return list, nil
}

func describe(ordinal int) (DeviceInfo, error) {
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return DeviceInfo{}, cudaError(fmt.Sprintf("device %d", ordinal), err)
	}
	info := DeviceInfo{ID: fmt.Sprintf("cuda:%d", ordinal), Ordinal: ordinal, Kind: "cuda"}
	if info.Name, err = dev.Name(); err != nil {
		return info, cudaError("device name", err)
	}
	major, minor, err := dev.ComputeCapability()
	if err != nil {
		return info, cudaError("compute capability", err)
	}
	info.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	if info.MemoryBytes, err = dev.TotalMem(); err != nil {
		return info, cudaError("total memory", err)
	}
	if info.Multiprocessors, err = dev.Attribute(cu.MultiprocessorCount); err != nil {
		return info, cudaError("multiprocessor count", err)
	}
	return info, nil
}

// context is one device's primary context, the context TensorFlow's CUDA
// build and the runtime API use too, so that device pointers are shared.
// A CUDA context is current per OS thread: every call into the driver goes
// through do, which pins the goroutine to its thread and makes the context
// current there.
type context struct {
	dev  cu.Device
	ctx  cu.CUContext
	info DeviceInfo
}

func openContext(ordinal int) (*context, error) {
	n, err := cu.NumDevices()
	if err != nil {
		return nil, cudaError("count devices", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, fmt.Errorf("%w: no device cuda:%d: this host has %d GPU(s) (see graft-cuda devices)", ErrCUDA, ordinal, n)
	}
	info, err := describe(ordinal)
	if err != nil {
		return nil, err
	}
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, cudaError("get device", err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, cudaError(fmt.Sprintf("retain the primary context of cuda:%d", ordinal), err)
	}
	return &context{dev: dev, ctx: ctx, info: info}, nil
}

// do runs fn with the context current on a locked OS thread.
func (c *context) do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return cudaError("make the context current", err)
	}
	return fn()
}

func (c *context) release() error {
	if err := c.dev.ReleasePrimaryCtx(); err != nil {
		return cudaError("release the primary context", err)
	}
	return nil
}

// cudaError maps a driver error to this package's errors: out of memory
// wraps ErrOutOfMemory, kernel faults ErrContextLost, everything ErrCUDA,
// and the driver's own error stays in the chain.
func cudaError(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	switch {
	case errors.Is(err, cu.OutOfMemory):
		e.kind = ErrOutOfMemory
	case errors.Is(err, cu.IllegalAddress), errors.Is(err, cu.LaunchFailed), errors.Is(err, cu.MisalignedAddress),
		errors.Is(err, cu.IllegalInstruction), errors.Is(err, cu.HardwareStackError), errors.Is(err, cu.InvalidPc),
		errors.Is(err, cu.Assert), errors.Is(err, cu.LaunchTimeout):
		e.kind = ErrContextLost
	}
	return e
}

// Error is a CUDA driver error with the operation that got it.
type Error struct {
	Op   string
	Err  error
	kind error
}

func (e *Error) Error() string {
	msg := "gpu: " + e.Op + ": " + e.Err.Error()
	if e.kind == ErrContextLost {
		msg += " (the CUDA context is unusable now: restart the process)"
	}
	return msg
}

// Unwrap lets errors.Is find ErrCUDA, the kind (ErrOutOfMemory,
// ErrContextLost) and the driver's error.
func (e *Error) Unwrap() []error {
	errs := []error{ErrCUDA, e.Err}
	if e.kind != nil {
		errs = append(errs, e.kind)
	}
	return errs
}
