//go:build graftcuda

package gpu

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"gorgonia.org/cu"

	// Initialises the driver before gorgonia.org/cu can exit the process.
	_ "github.com/graft-ml/graft/gpu/internal/cudainit"
	"github.com/graft-ml/graft/kernels"
)

// systemDriver is the host's CUDA driver through gorgonia.org/cu.
func systemDriver() (Driver, error) { return cuDriver{}, nil }

// cuDriver implements driver with gorgonia.org/cu (the driver API only).
type cuDriver struct{}

// wrap tags a cu error with its kind for cudaError.
func wrap(err error) error {
	if err == nil {
		return nil
	}
	e := &DriverError{Err: err}
	switch {
	case errors.Is(err, cu.OutOfMemory):
		e.Kind = ErrOutOfMemory
	case errors.Is(err, cu.IllegalAddress), errors.Is(err, cu.LaunchFailed), errors.Is(err, cu.MisalignedAddress),
		errors.Is(err, cu.IllegalInstruction), errors.Is(err, cu.HardwareStackError), errors.Is(err, cu.InvalidPc),
		errors.Is(err, cu.Assert), errors.Is(err, cu.LaunchTimeout):
		e.Kind = ErrContextLost
	}
	return e
}

func (cuDriver) DeviceCount() (int, error) {
	n, err := cu.NumDevices()
	return n, wrap(err)
}

func (cuDriver) Version() int { return cu.Version() }

func (cuDriver) Describe(ordinal int) (DeviceInfo, error) {
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return DeviceInfo{}, cudaError(fmt.Sprintf("device %d", ordinal), wrap(err))
	}
	info := DeviceInfo{ID: fmt.Sprintf("cuda:%d", ordinal), Ordinal: ordinal, Kind: "cuda"}
	if info.Name, err = dev.Name(); err != nil {
		return info, cudaError("device name", wrap(err))
	}
	major, minor, err := dev.ComputeCapability()
	if err != nil {
		return info, cudaError("compute capability", wrap(err))
	}
	info.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
	if info.MemoryBytes, err = dev.TotalMem(); err != nil {
		return info, cudaError("total memory", wrap(err))
	}
	if info.Multiprocessors, err = dev.Attribute(cu.MultiprocessorCount); err != nil {
		return info, cudaError("multiprocessor count", wrap(err))
	}
	return info, nil
}

func (cuDriver) Open(ordinal int) (Context, error) {
	dev, err := cu.GetDevice(ordinal)
	if err != nil {
		return nil, wrap(err)
	}
	ctx, err := dev.RetainPrimaryCtx()
	if err != nil {
		return nil, wrap(err)
	}
	return &cuContext{dev: dev, ctx: ctx, pinned: map[HostPtr]pinnedHost{}, streams: map[Stream]cu.Stream{},
		events: map[Event]cu.Event{}}, nil
}

// cuContext is a primary context. A CUDA context is current per OS
// thread: do pins the goroutine to its thread and makes the context
// current there.
type cuContext struct {
	dev cu.Device
	ctx cu.CUContext
	// The driver's handles behind this package's: pinned allocations,
	// streams and events (stream 0 is cu.NoStream, the legacy stream).
	mu      sync.Mutex
	next    uint64
	pinned  map[HostPtr]pinnedHost
	streams map[Stream]cu.Stream
	events  map[Event]cu.Event
}

func (c *cuContext) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cu.SetCurrentContext(c.ctx); err != nil {
		return cudaError("make the context current", wrap(err))
	}
	return fn()
}

func (c *cuContext) Release() error { return wrap(c.dev.ReleasePrimaryCtx()) }

func (c *cuContext) MemInfo() (int64, int64, error) {
	free, total, err := cu.MemInfo()
	return free, total, wrap(err)
}

func (c *cuContext) Alloc(bytes int64) (DevicePtr, error) {
	p, err := cu.MemAlloc(bytes)
	return DevicePtr(p), wrap(err)
}

func (c *cuContext) Free(p DevicePtr) error { return wrap(cu.MemFree(cu.DevicePtr(p))) }

func (c *cuContext) MemsetD32(p DevicePtr, v uint32, n int64) error {
	return wrap(cu.MemsetD32(cu.DevicePtr(p), v, n))
}

func (c *cuContext) CopyHtoD(dst DevicePtr, src []byte) error {
	if len(src) == 0 {
		return nil
	}
	return wrap(cu.MemcpyHtoD(cu.DevicePtr(dst), unsafe.Pointer(&src[0]), int64(len(src))))
}

func (c *cuContext) CopyDtoH(dst []byte, src DevicePtr) error {
	if len(dst) == 0 {
		return nil
	}
	return wrap(cu.MemcpyDtoH(unsafe.Pointer(&dst[0]), cu.DevicePtr(src), int64(len(dst))))
}

func (c *cuContext) CopyDtoD(dst, src DevicePtr, bytes int64) error {
	if bytes == 0 {
		return nil
	}
	if err := sameContext(src); err != nil {
		return err
	}
	return wrap(cu.MemcpyDtoD(cu.DevicePtr(dst), cu.DevicePtr(src), bytes))
}

func (c *cuContext) Synchronize() error { return wrap(cu.Synchronize()) }

// loadModule loads the embedded fatbin; the driver picks the SASS for the
// device or JIT-compiles the PTX.
func (c *cuContext) LoadModule() (Module, error) {
	if len(kernels.Fatbin) == 0 {
		return nil, fmt.Errorf("%w: the embedded kernels are empty: run make kernels and rebuild", ErrCUDA)
	}
	mod, err := cu.LoadData(kernels.Fatbin)
	if err != nil {
		return nil, fmt.Errorf("%w (no SASS for this GPU and its driver cannot JIT the compute_80/compute_70 PTX?)", cudaError("load the kernel fatbin", wrap(err)))
	}
	return cuModule{mod, c}, nil
}

type cuModule struct {
	mod cu.Module
	ctx *cuContext
}

func (m cuModule) Function(name string) (Function, error) {
	fn, err := m.mod.Function(name)
	return cuFunction{fn, m.ctx}, wrap(err)
}

func (m cuModule) Unload() error { return wrap(m.mod.Unload()) }

type cuFunction struct {
	fn  cu.Function
	ctx *cuContext
}

func (f cuFunction) MaxActiveBlocksPerSM(block int) (int, error) {
	n, err := f.fn.MaxActiveBlocksPerMultiProcessor(block, 0)
	return n, wrap(err)
}

// launch passes each argument as a pointer to its 8 bytes, as
// cuLaunchKernel wants them.
func (f cuFunction) Launch(grid Dim3, block int, args []Arg, s Stream) error {
	bits := make([]uint64, len(args))
	params := make([]unsafe.Pointer, len(args))
	for i, a := range args {
		bits[i] = a.Bits
		params[i] = unsafe.Pointer(&bits[i])
	}
	return wrap(f.fn.Launch(grid.X, grid.Y, grid.Z, block, 1, 1, 0, f.ctx.cuStream(s), params))
}
