package gputest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/kernels"
)

// Device is the GPU the fake driver pretends to be.
type Device struct {
	Name            string
	Multiprocessors int
	MemoryBytes     int64
	// ContextBytes is the memory the CUDA context itself takes (not
	// available to allocations), as cuMemGetInfo reports it.
	ContextBytes int64
	// BlocksPerSM is the GEMM kernels' occupancy; 0 means 2 (their
	// __launch_bounds__ minimum).
	BlocksPerSM int
	// KernelBlocksPerSM overrides BlocksPerSM for the kernels it names
	// (a kernel's occupancy depends on its own registers and shared
	// memory).
	KernelBlocksPerSM map[string]int
	// ComputeCapability is "9.0" when empty.
	ComputeCapability string
}

// Fake is an in-memory CUDA driver: device memory is host memory, kernels
// are not run but every launch is checked against its signature in
// kernels/head.cu and recorded. It rejects what a real driver would (and
// what a real driver would silently get wrong): calls outside the
// context, freed, foreign or out-of-bounds pointers, argument counts,
// sizes or kinds that do not match the kernel, grids and blocks over the
// device's limits. Tests use it to run CUDAOps on machines without a GPU.
type Fake struct {
	dev     Device
	ordinal int // its number on a Machine (0 alone)
	sigs    map[string]kernels.Signature

	mu       sync.Mutex
	inDo     int
	released bool
	mem      map[gpu.DevicePtr][]byte
	next     gpu.DevicePtr
	used     int64
	allocs   int // successful allocations
	syncs    int
	launches []Launch
	// fault, when set, fails the launch of that kernel as a kernel fault
	// would, and every call after it (the context is lost).
	fault string
	lost  bool
	order orderState
}

// Launch is one recorded kernel launch.
type Launch struct {
	Kernel string
	Grid   gpu.Dim3
	Block  int
	Args   []gpu.Arg
}

// NewOps opens CUDAOps on a fake device.
func NewOps(o gpu.Options, dev Device) (*gpu.CUDAOps, *Fake, error) {
	f, err := newFake(dev)
	if err != nil {
		return nil, nil, err
	}
	ops, err := gpu.OpenOps(f, o)
	return ops, f, err
}

func newFake(dev Device) (*Fake, error) {
	sigs, err := kernels.Signatures(kernels.Source)
	if err != nil {
		return nil, err
	}
	if dev.Name == "" {
		dev.Name = "graft fake GPU"
	}
	if dev.Multiprocessors <= 0 {
		dev.Multiprocessors = 4
	}
	if dev.BlocksPerSM <= 0 {
		dev.BlocksPerSM = 2
	}
	if dev.MemoryBytes <= 0 {
		dev.MemoryBytes = 1 << 30
	}
	if dev.ComputeCapability == "" {
		dev.ComputeCapability = "9.0"
	}
	return &Fake{dev: dev, sigs: sigs, mem: map[gpu.DevicePtr][]byte{}, next: 0x7f0000000000, order: newOrderState()}, nil
}

// Launches names the kernels launched so far, in order.
func (f *Fake) Launches() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, len(f.launches))
	for i, l := range f.launches {
		names[i] = l.Kernel
	}
	return names
}

// Calls is the launches so far, in order, with their arguments.
func (f *Fake) Calls() []Launch {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.launches)
}

// Syncs counts the context's synchronisations (Synchronize) so far.
func (f *Fake) Syncs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.syncs
}

// UsedBytes is the device memory allocated now.
func (f *Fake) UsedBytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.used
}

// Released reports whether the context was released.
func (f *Fake) Released() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.released
}

// FailKernel makes the next launch of kernel fail as a kernel fault does
// (an illegal address), losing the context: every call after it fails.
func (f *Fake) FailKernel(kernel string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fault = kernel
}

// Read copies n bytes of device memory at p, checked as a copy is (a live
// allocation, in bounds), without the ordering checks: what a test reads
// behind the code's back.
func (f *Fake) Read(p gpu.DevicePtr, n int64) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, err := f.span("read", p, n)
	return slices.Clone(b), err
}

// Allocations is the number of device allocations made so far.
func (f *Fake) Allocations() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.allocs
}

// The driver's errors, named as the CUDA driver names them.
var (
	errFakeInvalid = errors.New("CUDA_ERROR_INVALID_VALUE")
	// ErrOutOfMemory is the fake's CUDA_ERROR_OUT_OF_MEMORY, which gpu's
	// errors keep in their chain.
	ErrOutOfMemory = errors.New("CUDA_ERROR_OUT_OF_MEMORY: out of memory")
	errFakeContext = errors.New("CUDA_ERROR_INVALID_CONTEXT: no current context (called outside do)")
	errFakeFault   = errors.New("CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered")
	errFakeNoFunc  = errors.New("CUDA_ERROR_NOT_FOUND: named symbol not found")
)

func invalid(format string, a ...any) error {
	return &gpu.DriverError{Err: fmt.Errorf("%w: %s", errFakeInvalid, fmt.Sprintf(format, a...))}
}

func (f *Fake) DeviceCount() (int, error) { return 1, nil }
func (f *Fake) Version() int              { return 12020 }

func (f *Fake) Describe(ordinal int) (gpu.DeviceInfo, error) {
	if ordinal != 0 {
		return gpu.DeviceInfo{}, invalid("no device %d", ordinal)
	}
	return gpu.DeviceInfo{ID: fmt.Sprintf("cuda:%d", f.ordinal), Ordinal: f.ordinal, Kind: "cuda", Name: f.dev.Name, ComputeCapability: f.dev.ComputeCapability,
		Multiprocessors: f.dev.Multiprocessors, MemoryBytes: f.dev.MemoryBytes}, nil
}

func (f *Fake) Open(ordinal int) (gpu.Context, error) {
	if ordinal != 0 {
		return nil, invalid("no device %d", ordinal)
	}
	return f, nil
}

func (f *Fake) Do(fn func() error) error {
	f.mu.Lock()
	f.inDo++
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inDo--
		f.mu.Unlock()
	}()
	return fn()
}

// enter checks that a call runs inside Do on a live context; it returns
// with f.mu held.
func (f *Fake) enter() error {
	f.mu.Lock()
	switch {
	case f.released:
		return &gpu.DriverError{Err: fmt.Errorf("%w: the context was released", errFakeContext)}
	case f.inDo == 0:
		return &gpu.DriverError{Err: errFakeContext}
	case f.lost:
		return &gpu.DriverError{Err: errFakeFault, Kind: gpu.ErrContextLost}
	}
	return nil
}

func (f *Fake) Release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return &gpu.DriverError{Err: fmt.Errorf("%w: released twice", errFakeContext)}
	}
	f.released = true
	return nil
}

func (f *Fake) MemInfo() (int64, int64, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, 0, err
	}
	return f.dev.MemoryBytes - f.dev.ContextBytes - f.used, f.dev.MemoryBytes, nil
}

func (f *Fake) Alloc(bytes int64) (gpu.DevicePtr, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, invalid("cuMemAlloc of %d bytes", bytes)
	}
	if f.used+bytes > f.dev.MemoryBytes-f.dev.ContextBytes {
		return 0, &gpu.DriverError{Err: ErrOutOfMemory, Kind: gpu.ErrOutOfMemory}
	}
	p := f.next
	f.mem[p] = make([]byte, bytes)
	// 256-byte aligned, with a gap so that an overrun never lands in the
	// next allocation.
	f.next += gpu.DevicePtr((bytes+255)/256*256 + 4096)
	f.used += bytes
	f.allocs++
	return p, nil
}

func (f *Fake) Free(p gpu.DevicePtr) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	b, ok := f.mem[p]
	if !ok {
		return invalid("cuMemFree(%#x): not the start of a live allocation (freed twice, or foreign)", uint64(p))
	}
	if a := f.order.dev[p]; a != nil {
		if err := f.order.idle(a, fmt.Sprintf("cuMemFree(%#x)", uint64(p))); err != nil {
			return err
		}
	}
	delete(f.order.dev, p)
	f.used -= int64(len(b))
	delete(f.mem, p)
	return nil
}

// span is the live memory [p, p+n); f.mu held.
func (f *Fake) span(what string, p gpu.DevicePtr, n int64) ([]byte, error) {
	for base, b := range f.mem {
		if p >= base && p < base+gpu.DevicePtr(len(b)) {
			off := int64(p - base)
			if off+n > int64(len(b)) {
				return nil, invalid("%s of %d bytes at %#x runs %d bytes past the end of its %d-byte allocation", what, n, uint64(p), off+n-int64(len(b)), len(b))
			}
			return b[off : off+n], nil
		}
	}
	return nil, invalid("%s at %#x: not in any live allocation (freed, or foreign)", what, uint64(p))
}

func (f *Fake) MemsetD32(p gpu.DevicePtr, v uint32, n int64) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if p%4 != 0 {
		return invalid("cuMemsetD32 at %#x: not 4-byte aligned", uint64(p))
	}
	b, err := f.span("cuMemsetD32", p, 4*n)
	if err != nil {
		return err
	}
	if err := f.legacy(p, true, false, "cuMemsetD32"); err != nil {
		return err
	}
	for i := 0; i < len(b); i += 4 {
		b[i], b[i+1], b[i+2], b[i+3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
	}
	return nil
}

func (f *Fake) CopyHtoD(dst gpu.DevicePtr, src []byte) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	b, err := f.span("cuMemcpyHtoD", dst, int64(len(src)))
	if err != nil {
		return err
	}
	if err := f.legacy(dst, true, true, "cuMemcpyHtoD"); err != nil {
		return err
	}
	copy(b, src)
	return nil
}

func (f *Fake) CopyDtoH(dst []byte, src gpu.DevicePtr) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	b, err := f.span("cuMemcpyDtoH", src, int64(len(dst)))
	if err != nil {
		return err
	}
	if err := f.legacy(src, false, true, "cuMemcpyDtoH"); err != nil {
		return err
	}
	copy(dst, b)
	return nil
}

func (f *Fake) CopyDtoD(dst, src gpu.DevicePtr, bytes int64) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	from, err := f.span("cuMemcpyDtoD source", src, bytes)
	if err != nil {
		return err
	}
	to, err := f.span("cuMemcpyDtoD destination", dst, bytes)
	if err != nil {
		return err
	}
	copy(to, from)
	return nil
}

func (f *Fake) Synchronize() error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	f.syncs++
	for _, vc := range f.order.streams {
		f.order.host.join(vc)
	}
	return nil
}

func (f *Fake) LoadModule() (gpu.Module, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return nil, err
	}
	return fakeModule{f}, nil
}

type fakeModule struct{ f *Fake }

func (m fakeModule) Function(name string) (gpu.Function, error) {
	sig, ok := m.f.sigs[name]
	if !ok {
		return nil, &gpu.DriverError{Err: fmt.Errorf("%w: %s", errFakeNoFunc, name)}
	}
	return fakeFunction{m.f, sig}, nil
}

func (m fakeModule) Unload() error {
	defer m.f.mu.Unlock()
	return m.f.enter()
}

type fakeFunction struct {
	f   *Fake
	sig kernels.Signature
}

func (fn fakeFunction) MaxActiveBlocksPerSM(block int) (int, error) {
	if block < 1 || block > gpu.MaxThreads || (fn.sig.MaxThreads > 0 && block > fn.sig.MaxThreads) {
		return 0, invalid("occupancy of %s at %d threads", fn.sig.Name, block)
	}
	if n, ok := fn.f.dev.KernelBlocksPerSM[fn.sig.Name]; ok {
		return n, nil
	}
	return fn.f.dev.BlocksPerSM, nil
}

// Launch checks the configuration and each argument against the kernel's
// signature, then records the launch.
func (fn fakeFunction) Launch(grid gpu.Dim3, block int, args []gpu.Arg, s gpu.Stream) error {
	f, sig := fn.f, fn.sig
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if grid.X < 1 || grid.Y < 1 || grid.Z < 1 || grid.X > gpu.MaxGridX || grid.Y > gpu.MaxGridYZ || grid.Z > gpu.MaxGridYZ {
		return invalid("%s: grid (%d,%d,%d) outside the device's limits (x up to %d, y and z up to %d)", sig.Name, grid.X, grid.Y, grid.Z, gpu.MaxGridX, gpu.MaxGridYZ)
	}
	limit := gpu.MaxThreads
	if sig.MaxThreads > 0 {
		limit = sig.MaxThreads
	}
	if block < 1 || block > limit {
		return invalid("%s: block of %d threads, the kernel takes 1 to %d", sig.Name, block, limit)
	}
	if len(args) != len(sig.Params) {
		return invalid("%s: %d arguments, its signature has %d", sig.Name, len(args), len(sig.Params))
	}
	for i, a := range args {
		p := sig.Params[i]
		want := gpu.ArgInt
		switch {
		case p.Pointer:
			want = gpu.ArgPtr
		case p.Type == "double" || p.Type == "float":
			want = gpu.ArgFloat
		}
		if a.Size() != p.Size || a.Kind != want {
			return invalid("%s: argument %d (%s %s) is %d bytes of %s, the signature wants %d bytes of %s", sig.Name, i, p.Type, p.Name, a.Size(), a.Kind, p.Size, want)
		}
		if p.Pointer && a.Bits != 0 {
			if _, err := f.span(sig.Name+" argument "+p.Name, gpu.DevicePtr(a.Bits), 1); err != nil {
				return err
			}
		}
	}
	if err := f.checkExtents(sig, grid, args); err != nil {
		return err
	}
	var uses []bufUse
	for i, p := range sig.Params {
		if p.Pointer && args[i].Bits != 0 {
			uses = append(uses, bufUse{gpu.DevicePtr(args[i].Bits), !p.Const, p.Name})
		}
	}
	if err := f.launched(sig.Name, uses, s); err != nil {
		return err
	}
	if sig.Name == f.fault {
		f.lost = true
		return &gpu.DriverError{Err: errFakeFault, Kind: gpu.ErrContextLost}
	}
	f.launches = append(f.launches, Launch{Kernel: sig.Name, Grid: grid, Block: block, Args: slices.Clone(args)})
	return nil
}

// checkExtents refuses pointer arguments shorter than what the kernel
// touches (fakeExtents); f.mu held.
func (f *Fake) checkExtents(sig kernels.Signature, grid gpu.Dim3, args []gpu.Arg) error {
	ext, ok := fakeExtents[sig.Name]
	if !ok {
		return invalid("%s: the fake driver has no extents for this kernel (gpu/gputest/extents.go)", sig.Name)
	}
	scalars, ptrs := map[string]int64{}, map[string]gpu.DevicePtr{}
	elem := map[string]int64{}
	for i, p := range sig.Params {
		if p.Pointer {
			ptrs[p.Name] = gpu.DevicePtr(args[i].Bits)
			elem[p.Name] = 4
			if strings.HasPrefix(p.Type, "double") || strings.HasPrefix(p.Type, "i64") || strings.HasPrefix(p.Type, "long long") {
				elem[p.Name] = 8
			}
		} else {
			scalars[p.Name] = int64(args[i].Bits)
		}
	}
	var bad error
	samples := func(name string, n int64) int64 {
		b, err := f.span(sig.Name+" argument "+name, ptrs[name], 4*n)
		if err != nil {
			bad = err
			return 0
		}
		most := int64(-1)
		for i := 0; i+4 <= len(b); i += 4 {
			most = max(most, int64(int32(uint32(b[i])|uint32(b[i+1])<<8|uint32(b[i+2])<<16|uint32(b[i+3])<<24)))
		}
		return most + 1
	}
	if err := tensorCorePreconditions(sig.Name, scalars, ptrs, grid); err != nil {
		return err
	}
	need := ext(scalars, grid, samples)
	if bad != nil {
		return bad
	}
	for _, p := range sig.Params {
		n, ok := need[p.Name]
		if !p.Pointer || ptrs[p.Name] == 0 || !ok || n <= 0 {
			continue
		}
		if _, err := f.span(fmt.Sprintf("%s argument %s (%d elements)", sig.Name, p.Name, n), ptrs[p.Name], n*elem[p.Name]); err != nil {
			return err
		}
	}
	return nil
}
