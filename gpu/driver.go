package gpu

import (
	"errors"
	"fmt"
	"math"
)

// driver is the seam between this package's logic (pool, budget, error
// mapping, argument packing, the head's launch sequence) and the CUDA
// driver API: cudriver.go implements it with gorgonia.org/cu under the
// graftcuda tag, fake.go in memory so that the logic is tested on every
// machine. Errors it returns are *driverError when the package must tell
// their kind apart.
type driver interface {
	deviceCount() (int, error)
	describe(ordinal int) (DeviceInfo, error)
	version() int
	// open retains the device's primary context.
	open(ordinal int) (devContext, error)
}

// devContext is one device's context. Every method but do and release
// must run inside do.
type devContext interface {
	// do runs fn with the context current (on a locked OS thread for cu).
	do(fn func() error) error
	release() error
	memInfo() (free, total int64, err error)
	alloc(bytes int64) (devicePtr, error)
	free(p devicePtr) error
	memsetD32(p devicePtr, v uint32, n int64) error
	copyHtoD(dst devicePtr, src []byte) error
	copyDtoH(dst []byte, src devicePtr) error
	// copyDtoD copies within the device; src may belong to another
	// library in the same context (TensorFlow's output).
	copyDtoD(dst, src devicePtr, bytes int64) error
	// loadModule loads head.cu's kernels.
	loadModule() (driverModule, error)
	// synchronize waits for all work of the context, every stream.
	synchronize() error

	// Pinned (page-locked) host memory, the source and destination of
	// asynchronous copies. The host reads and writes it only through
	// hostBytes, which the fake refuses while a copy of it is in flight.
	allocHost(bytes int64) (hostPtr, error)
	hostBytes(h hostPtr) ([]byte, error)
	freeHost(h hostPtr) error

	// Streams are blocking (ordered with the legacy default stream,
	// stream 0, which the synchronous calls above use); events order one
	// stream after another.
	newStream() (stream, error)
	destroyStream(s stream) error
	newEvent() (event, error)
	destroyEvent(e event) error
	// record captures the work issued to s so far in e; waitEvent makes
	// later work on s wait for it (an event never recorded is complete).
	record(e event, s stream) error
	waitEvent(s stream, e event) error
	// syncEvent and syncStream block the host until the work is done.
	syncEvent(e event) error
	syncStream(s stream) error
	// Asynchronous copies of n bytes between pinned memory (at byte off)
	// and the device, issued on s.
	copyHtoDAsync(dst devicePtr, src hostPtr, off, n int64, s stream) error
	copyDtoHAsync(dst hostPtr, off int64, src devicePtr, n int64, s stream) error
}

// hostPtr is a pinned host allocation, stream a CUDA stream (0 is the
// legacy default stream), event a CUDA event: handles of the driver.
type (
	hostPtr uint64
	stream  uint64
	event   uint64
)

type driverModule interface {
	function(name string) (driverFunction, error)
	unload() error
}

type driverFunction interface {
	// maxActiveBlocksPerSM is the occupancy at block threads, no dynamic
	// shared memory.
	maxActiveBlocksPerSM(block int) (int, error)
	// launch issues the kernel on stream s.
	launch(grid dim3, block int, args []arg, s stream) error
}

// devicePtr is a device address.
type devicePtr uint64

// dim3 is a grid's size.
type dim3 struct{ x, y, z int }

// argKind is what a kernel argument holds; each is passed as 8 bytes
// (head.cu's pointers, long long and double parameters).
type argKind uint8

const (
	argPtr argKind = iota
	argInt
	argFloat
)

func (k argKind) String() string { return [...]string{"pointer", "int64", "float64"}[k] }

// arg is one kernel argument, kind and bits.
type arg struct {
	kind argKind
	bits uint64
}

// size is the bytes the launcher copies for the argument.
func (arg) size() int { return 8 }

func ptrArg(p devicePtr) arg { return arg{argPtr, uint64(p)} }
func intArg(v int) arg       { return arg{argInt, uint64(int64(v))} }
func boolArg(v bool) arg {
	if v {
		return arg{argInt, 1}
	}
	return arg{argInt, 0}
}
func floatArg(v float64) arg { return arg{argFloat, math.Float64bits(v)} }

// The device limits of every CUDA GPU since compute capability 3.0.
const (
	maxGridX   = 1<<31 - 1
	maxGridYZ  = 65535
	maxThreads = 1024
)

// driverError is a driver call's failure; kind is ErrOutOfMemory,
// ErrContextLost or nil.
type driverError struct {
	err  error
	kind error
}

func (e *driverError) Error() string { return e.err.Error() }
func (e *driverError) Unwrap() error { return e.err }

// cudaError maps a driver error to this package's errors: out of memory
// wraps ErrOutOfMemory, kernel faults ErrContextLost, everything ErrCUDA,
// and the driver's own error stays in the chain.
func cudaError(op string, err error) error {
	if err == nil {
		return nil
	}
	e := &Error{Op: op, Err: err}
	var de *driverError
	if errors.As(err, &de) {
		e.kind = de.kind
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
	n, err := drv.deviceCount()
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
	return drv.version()
}

// Devices lists the GPUs the driver sees.
func Devices() ([]DeviceInfo, error) {
	drv, err := systemDriver()
	if err != nil {
		return nil, err
	}
	return devicesOf(drv)
}

// devicesOf lists drv's devices.
func devicesOf(drv driver) ([]DeviceInfo, error) {
	n, err := drv.deviceCount()
	if err != nil {
		return nil, cudaError("count devices", err)
	}
	list := make([]DeviceInfo, 0, n)
	for i := range n {
		d, err := drv.describe(i)
		if err != nil {
			return nil, err
		}
		d.DriverVersion = drv.version()
		list = append(list, d)
	}
	return list, nil
}

// openContext retains a device's primary context, the context
// TensorFlow's CUDA build and the runtime API use too, so that device
// pointers are shared.
func openContext(drv driver, ordinal int) (devContext, DeviceInfo, error) {
	n, err := drv.deviceCount()
	if err != nil {
		return nil, DeviceInfo{}, cudaError("count devices", err)
	}
	if ordinal < 0 || ordinal >= n {
		return nil, DeviceInfo{}, fmt.Errorf("%w: no device cuda:%d: this host has %d GPU(s) (see graft-cuda devices)", ErrCUDA, ordinal, n)
	}
	info, err := drv.describe(ordinal)
	if err != nil {
		return nil, info, err
	}
	ctx, err := drv.open(ordinal)
	if err != nil {
		return nil, info, cudaError(fmt.Sprintf("retain the primary context of cuda:%d", ordinal), err)
	}
	return ctx, info, nil
}
