package gpu

import (
	"errors"
	"fmt"
	"math"
)

// Driver is the seam between this package's logic (pool, budget, error
// mapping, argument packing, the head's launch sequence) and the CUDA
// driver API: cudriver.go implements it with gorgonia.org/cu under the
// graftcuda tag, gpu/gputest in memory so that the logic is tested on
// every machine. It is exported for gputest and for tests, not for other
// drivers. Errors it returns are *DriverError when the package must tell
// their kind apart.
type Driver interface {
	DeviceCount() (int, error)
	Describe(ordinal int) (DeviceInfo, error)
	Version() int
	// Open retains the device's primary context.
	Open(ordinal int) (Context, error)
}

// Context is one device's context. Every method but Do and Release
// must run inside Do.
type Context interface {
	// Do runs fn with the context current (on a locked OS thread for cu).
	Do(fn func() error) error
	Release() error
	MemInfo() (free, total int64, err error)
	Alloc(bytes int64) (DevicePtr, error)
	Free(p DevicePtr) error
	MemsetD32(p DevicePtr, v uint32, n int64) error
	CopyHtoD(dst DevicePtr, src []byte) error
	CopyDtoH(dst []byte, src DevicePtr) error
	// CopyDtoD copies within the device; src may belong to another
	// library in the same context (TensorFlow's output).
	CopyDtoD(dst, src DevicePtr, bytes int64) error
	// LoadModule loads head.cu's kernels.
	LoadModule() (Module, error)
	// Synchronize waits for all work of the context, every stream.
	Synchronize() error

	// Pinned (page-locked) host memory, the source and destination of
	// asynchronous copies. The host reads and writes it only through
	// HostBytes, which the fake refuses while a copy of it is in flight.
	AllocHost(bytes int64) (HostPtr, error)
	HostBytes(h HostPtr) ([]byte, error)
	FreeHost(h HostPtr) error

	// Streams are blocking (ordered with the legacy default stream,
	// stream 0, which the synchronous calls above use); events order one
	// stream after another.
	NewStream() (Stream, error)
	DestroyStream(s Stream) error
	NewEvent() (Event, error)
	DestroyEvent(e Event) error
	// Record captures the work issued to s so far in e; WaitEvent makes
	// later work on s wait for it (an event never recorded is complete).
	Record(e Event, s Stream) error
	WaitEvent(s Stream, e Event) error
	// SyncEvent and SyncStream block the host until the work is done.
	SyncEvent(e Event) error
	SyncStream(s Stream) error
	// Asynchronous copies of n bytes between pinned memory (at byte off)
	// and the device, issued on s.
	CopyHtoDAsync(dst DevicePtr, src HostPtr, off, n int64, s Stream) error
	CopyDtoHAsync(dst HostPtr, off int64, src DevicePtr, n int64, s Stream) error
}

// HostPtr is a pinned host allocation, Stream a CUDA stream (0 is the
// legacy default stream), Event a CUDA event: handles of the driver.
type (
	HostPtr uint64
	Stream  uint64
	Event   uint64
)

// Module is head.cu's loaded kernels.
type Module interface {
	Function(name string) (Function, error)
	Unload() error
}

// Function is one kernel of a Module.
type Function interface {
	// MaxActiveBlocksPerSM is the occupancy at block threads, no dynamic
	// shared memory.
	MaxActiveBlocksPerSM(block int) (int, error)
	// Launch issues the kernel on stream s.
	Launch(grid Dim3, block int, args []Arg, s Stream) error
}

// DevicePtr is a device address.
type DevicePtr uint64

// Dim3 is a grid's size.
type Dim3 struct{ X, Y, Z int }

// ArgKind is what a kernel argument holds; each is passed as 8 bytes
// (head.cu's pointers, long long and double parameters).
type ArgKind uint8

const (
	ArgPtr ArgKind = iota
	ArgInt
	ArgFloat
)

func (k ArgKind) String() string { return [...]string{"pointer", "int64", "float64"}[k] }

// Arg is one kernel argument, kind and bits.
type Arg struct {
	Kind ArgKind
	Bits uint64
}

// Size is the bytes the launcher copies for the argument.
func (Arg) Size() int { return 8 }

func ptrArg(p DevicePtr) Arg { return Arg{ArgPtr, uint64(p)} }
func intArg(v int) Arg       { return Arg{ArgInt, uint64(int64(v))} }
func boolArg(v bool) Arg {
	if v {
		return Arg{ArgInt, 1}
	}
	return Arg{ArgInt, 0}
}
func floatArg(v float64) Arg { return Arg{ArgFloat, math.Float64bits(v)} }

// The device limits of every CUDA GPU since compute capability 3.0.
const (
	MaxGridX   = 1<<31 - 1
	MaxGridYZ  = 65535
	MaxThreads = 1024
)

// DriverError is a driver call's failure, as a Driver returns it; Kind
// is ErrOutOfMemory, ErrContextLost or nil.
type DriverError struct {
	Err  error
	Kind error
}

func (e *DriverError) Error() string { return e.Err.Error() }
func (e *DriverError) Unwrap() error { return e.Err }

// cudaError maps a driver error to this package's errors: out of memory
// wraps ErrOutOfMemory, kernel faults ErrContextLost, everything ErrCUDA,
// and the driver's own error stays in the chain.
func cudaError(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	var de *DriverError
	if errors.As(err, &de) {
		e.kind = de.Kind
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

// Available reports whether at least one GPU is usable.
func Available() error {
	drv, err := systemDriver()
	if err != nil {
		return err
	}
	n, err := drv.DeviceCount()
	if err != nil {
		return cudaError("count devices", err)
	}
	if n == 0 {
		return fmt.Errorf("%w: the CUDA driver sees no GPU", ErrCUDA)
	}
	return nil
}

// DriverVersion is the CUDA driver's version, e.g. 12020 for 12.2; 0
// without one.
func DriverVersion() int {
	drv, err := systemDriver()
	if err != nil {
		return 0
	}
	return drv.Version()
}

// Devices lists the GPUs the driver sees.
func Devices() ([]DeviceInfo, error) {
	drv, err := systemDriver()
	if err != nil {
		return nil, err
	}
	return DevicesOf(drv)
}

// DevicesOf lists drv's devices, as Devices lists the host's.
func DevicesOf(drv Driver) ([]DeviceInfo, error) {
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, cudaError("count devices", err)
	}
	list := make([]DeviceInfo, 0, n)
	for i := range n {
		d, err := drv.Describe(i)
		if err != nil {
			return nil, err
		}
		d.DriverVersion = drv.Version()
		list = append(list, d)
	}
	return list, nil
}

// openContext retains a device's primary context, the context
// TensorFlow's CUDA build and the runtime API use too, so that device
// pointers are shared.
func openContext(drv Driver, ordinal int) (Context, DeviceInfo, error) {
	n, err := drv.DeviceCount()
	if err != nil {
		return nil, DeviceInfo{}, cudaError("count devices", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, DeviceInfo{}, fmt.Errorf("%w: no device cuda:%d: this host has %d GPU(s) (see graft-cuda devices)", ErrCUDA, ordinal, n)
	}
	info, err := drv.Describe(ordinal)
	if err != nil {
		return nil, info, err
	}
	ctx, err := drv.Open(ordinal)
	if err != nil {
		return nil, info, cudaError(fmt.Sprintf("retain the primary context of cuda:%d", ordinal), err)
	}
	return ctx, info, nil
}
