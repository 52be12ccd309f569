package gpu

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/graft-ml/graft/kernels"
)

// FakeDevice is the GPU the fake driver pretends to be.
type FakeDevice struct {
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
	dev     FakeDevice
	ordinal int // its number on a FakeMachine (0 alone)
	sigs    map[string]kernels.Signature

	mu       sync.Mutex
	inDo     int
	released bool
	mem      map[devicePtr][]byte
	next     devicePtr
	used     int64
	allocs   int // successful allocations
	syncs    int
	launches []fakeLaunch
	// fault, when set, fails the launch of that kernel as a kernel fault
	// would, and every call after it (the context is lost).
	fault string
	lost  bool
	order orderState
}

type fakeLaunch struct {
	kernel string
	grid   dim3
	block  int
	args   []arg
}

// NewFakeOps opens CUDAOps on a fake device.
func NewFakeOps(o Options, dev FakeDevice) (*CUDAOps, *Fake, error) {
	f, err := newFake(dev)
	if err != nil {
		return nil, nil, err
	}
	ops, err := newOps(f, o)
	return ops, f, err
}

func newFake(dev FakeDevice) (*Fake, error) {
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
	return &Fake{dev: dev, sigs: sigs, mem: map[devicePtr][]byte{}, next: 0x7f0000000000, order: newOrderState()}, nil
}

// Launches names the kernels launched so far, in order.
func (f *Fake) Launches() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	names := make([]string, len(f.launches))
	for i, l := range f.launches {
		names[i] = l.kernel
	}
	return names
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
	errFakeOOM     = errors.New("CUDA_ERROR_OUT_OF_MEMORY: out of memory")
	errFakeContext = errors.New("CUDA_ERROR_INVALID_CONTEXT: no current context (called outside do)")
	errFakeFault   = errors.New("CUDA_ERROR_ILLEGAL_ADDRESS: an illegal memory access was encountered")
	errFakeNoFunc  = errors.New("CUDA_ERROR_NOT_FOUND: named symbol not found")
)

func invalid(format string, a ...any) error {
	return &driverError{err: fmt.Errorf("%w: %s", errFakeInvalid, fmt.Sprintf(format, a...))}
}

func (f *Fake) deviceCount() (int, error) { return 1, nil }
func (f *Fake) version() int              { return 12020 }

func (f *Fake) describe(ordinal int) (DeviceInfo, error) {
	if ordinal != 0 {
		return DeviceInfo{}, invalid("no device %d", ordinal)
	}
	return DeviceInfo{ID: fmt.Sprintf("cuda:%d", f.ordinal), Kind: "cuda", Name: f.dev.Name, ComputeCapability: f.dev.ComputeCapability,
		Multiprocessors: f.dev.Multiprocessors, MemoryBytes: f.dev.MemoryBytes}, nil
}

func (f *Fake) open(ordinal int) (devContext, error) {
	if ordinal != 0 {
		return nil, invalid("no device %d", ordinal)
	}
	return f, nil
}

func (f *Fake) do(fn func() error) error {
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

// enter checks that a call runs inside do on a live context; it returns
// with f.mu held.
func (f *Fake) enter() error {
	f.mu.Lock()
	switch {
	case f.released:
		return &driverError{err: fmt.Errorf("%w: the context was released", errFakeContext)}
	case f.inDo == 0:
		return &driverError{err: errFakeContext}
	case f.lost:
		return &driverError{err: errFakeFault, kind: ErrContextLost}
	}
	return nil
}

func (f *Fake) release() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.released {
		return &driverError{err: fmt.Errorf("%w: released twice", errFakeContext)}
	}
	f.released = true
	return nil
}

func (f *Fake) memInfo() (int64, int64, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, 0, err
	}
	return f.dev.MemoryBytes - f.dev.ContextBytes - f.used, f.dev.MemoryBytes, nil
}

func (f *Fake) alloc(bytes int64) (devicePtr, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, invalid("cuMemAlloc of %d bytes", bytes)
	}
	if f.used+bytes > f.dev.MemoryBytes-f.dev.ContextBytes {
		return 0, &driverError{err: errFakeOOM, kind: ErrOutOfMemory}
	}
	p := f.next
	f.mem[p] = make([]byte, bytes)
	// 256-byte aligned, with a gap so that an overrun never lands in the
	// next allocation.
	f.next += devicePtr((bytes+255)/256*256 + 4096)
	f.used += bytes
	f.allocs++
	return p, nil
}

func (f *Fake) free(p devicePtr) error {
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
func (f *Fake) span(what string, p devicePtr, n int64) ([]byte, error) {
	for base, b := range f.mem {
		if p >= base && p < base+devicePtr(len(b)) {
			off := int64(p - base)
			if off+n > int64(len(b)) {
				return nil, invalid("%s of %d bytes at %#x runs %d bytes past the end of its %d-byte allocation", what, n, uint64(p), off+n-int64(len(b)), len(b))
			}
			return b[off : off+n], nil
		}
	}
	return nil, invalid("%s at %#x: not in any live allocation (freed, or foreign)", what, uint64(p))
}

func (f *Fake) memsetD32(p devicePtr, v uint32, n int64) error {
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

func (f *Fake) copyHtoD(dst devicePtr, src []byte) error {
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

func (f *Fake) copyDtoH(dst []byte, src devicePtr) error {
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

func (f *Fake) copyDtoD(dst, src devicePtr, bytes int64) error {
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

func (f *Fake) synchronize() error {
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

func (f *Fake) loadModule() (driverModule, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return nil, err
	}
	return fakeModule{f}, nil
}

type fakeModule struct{ f *Fake }

func (m fakeModule) function(name string) (driverFunction, error) {
	sig, ok := m.f.sigs[name]
	if !ok {
		return nil, &driverError{err: fmt.Errorf("%w: %s", errFakeNoFunc, name)}
	}
	return fakeFunction{m.f, sig}, nil
}

func (m fakeModule) unload() error {
	defer m.f.mu.Unlock()
	return m.f.enter()
}

type fakeFunction struct {
	f   *Fake
	sig kernels.Signature
}

func (fn fakeFunction) maxActiveBlocksPerSM(block int) (int, error) {
	if block < 1 || block > maxThreads || (fn.sig.MaxThreads > 0 && block > fn.sig.MaxThreads) {
		return 0, invalid("occupancy of %s at %d threads", fn.sig.Name, block)
	}
	if n, ok := fn.f.dev.KernelBlocksPerSM[fn.sig.Name]; ok {
		return n, nil
	}
	return fn.f.dev.BlocksPerSM, nil
}

// launch checks the configuration and each argument against the kernel's
// signature, then records the launch.
func (fn fakeFunction) launch(grid dim3, block int, args []arg, s stream) error {
	f, sig := fn.f, fn.sig
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.x > maxGridX || grid.y > maxGridYZ || grid.z > maxGridYZ {
		return invalid("%s: grid (%d,%d,%d) outside the device's limits (x up to %d, y and z up to %d)", sig.Name, grid.x, grid.y, grid.z, maxGridX, maxGridYZ)
	}
	limit := maxThreads
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
		want := argInt
		switch {
		case p.Pointer:
			want = argPtr
		case p.Type == "double" || p.Type == "float":
			want = argFloat
		}
		if a.size() != p.Size || a.kind != want {
			return invalid("%s: argument %d (%s %s) is %d bytes of %s, the signature wants %d bytes of %s", sig.Name, i, p.Type, p.Name, a.size(), a.kind, p.Size, want)
		}
		if p.Pointer && a.bits != 0 {
			if _, err := f.span(sig.Name+" argument "+p.Name, devicePtr(a.bits), 1); err != nil {
				return err
			}
		}
	}
	if err := f.checkExtents(sig, grid, args); err != nil {
		return err
	}
	var uses []bufUse
	for i, p := range sig.Params {
		if p.Pointer && args[i].bits != 0 {
			uses = append(uses, bufUse{devicePtr(args[i].bits), !p.Const, p.Name})
		}
	}
	if err := f.launched(sig.Name, uses, s); err != nil {
		return err
	}
	if sig.Name == f.fault {
		f.lost = true
		return &driverError{err: errFakeFault, kind: ErrContextLost}
	}
	f.launches = append(f.launches, fakeLaunch{kernel: sig.Name, grid: grid, block: block, args: slices.Clone(args)})
	return nil
}

// checkExtents refuses pointer arguments shorter than what the kernel
// touches (fakeExtents); f.mu held.
func (f *Fake) checkExtents(sig kernels.Signature, grid dim3, args []arg) error {
	ext, ok := fakeExtents[sig.Name]
	if !ok {
		return invalid("%s: the fake driver has no extents for this kernel (gpu/fake_extents.go)", sig.Name)
	}
	scalars, ptrs := map[string]int64{}, map[string]devicePtr{}
	elem := map[string]int64{}
	for i, p := range sig.Params {
		if p.Pointer {
			ptrs[p.Name] = devicePtr(args[i].bits)
			elem[p.Name] = 4
			if strings.HasPrefix(p.Type, "double") || strings.HasPrefix(p.Type, "i64") || strings.HasPrefix(p.Type, "long long") {
				elem[p.Name] = 8
			}
		} else {
			scalars[p.Name] = int64(args[i].bits)
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
