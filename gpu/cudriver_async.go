//go:build graftcuda

package gpu

// #include <cuda.h>
// #include <stdint.h>
// #cgo LDFLAGS: -lcuda
import "C"

import (
	"fmt"
	"unsafe"

	"gorgonia.org/cu"
)

// Pinned memory, streams, events and asynchronous copies with
// gorgonia.org/cu; cu has no cuMemAllocHost, so that one call is cgo here.

// pinnedHost is a cuMemAllocHost allocation.
type pinnedHost struct {
	p unsafe.Pointer
	n int64
}

func (c *cuContext) handle() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.next++
	return c.next
}

func (c *cuContext) AllocHost(bytes int64) (HostPtr, error) {
	if bytes <= 0 {
		return 0, fmt.Errorf("%w: cuMemAllocHost of %d bytes", ErrCUDA, bytes)
	}
	var p unsafe.Pointer
	switch r := C.cuMemAllocHost(&p, C.size_t(bytes)); r {
	case C.CUDA_SUCCESS:
	case C.CUDA_ERROR_OUT_OF_MEMORY:
		return 0, wrap(cu.OutOfMemory)
	default:
		return 0, wrap(fmt.Errorf("cuMemAllocHost: CUresult %d", int(r)))
	}
	h := HostPtr(c.handle())
	c.mu.Lock()
	c.pinned[h] = pinnedHost{p, bytes}
	c.mu.Unlock()
	return h, nil
}

func (c *cuContext) pinnedOf(h HostPtr) (pinnedHost, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pinned[h]
	if !ok {
		return p, fmt.Errorf("%w: pinned buffer %d is not live", ErrCUDA, h)
	}
	return p, nil
}

func (c *cuContext) HostBytes(h HostPtr) ([]byte, error) {
	p, err := c.pinnedOf(h)
	if err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p.p), p.n), nil
}

func (c *cuContext) FreeHost(h HostPtr) error {
	p, err := c.pinnedOf(h)
	if err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.pinned, h)
	c.mu.Unlock()
	return wrap(cu.MemFreeHost(p.p))
}

// cuStream is the driver's stream for s; 0 and unknown handles are the
// legacy default stream.
func (c *cuContext) cuStream(s Stream) cu.Stream {
	if s == 0 {
		return cu.NoStream
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.streams[s]
}

func (c *cuContext) cuEvent(e Event) (cu.Event, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ev, ok := c.events[e]
	if !ok {
		return ev, fmt.Errorf("%w: event %d is not live", ErrCUDA, e)
	}
	return ev, nil
}

func (c *cuContext) NewStream() (Stream, error) {
	// Blocking (default flags): ordered with the legacy stream, which the
	// synchronous copies and memsets use, so that the pool may hand a
	// block on without an event.
	st, err := cu.MakeStream(cu.DefaultStream)
	if err != nil {
		return 0, wrap(err)
	}
	s := Stream(c.handle())
	c.mu.Lock()
	c.streams[s] = st
	c.mu.Unlock()
	return s, nil
}

func (c *cuContext) DestroyStream(s Stream) error {
	c.mu.Lock()
	st, ok := c.streams[s]
	delete(c.streams, s)
	c.mu.Unlock()
	if !ok {
		return fmt.Errorf("%w: stream %d is not live", ErrCUDA, s)
	}
	return wrap(st.Destroy())
}

func (c *cuContext) NewEvent() (Event, error) {
	ev, err := cu.MakeEvent(cu.DisableTiming)
	if err != nil {
		return 0, wrap(err)
	}
	e := Event(c.handle())
	c.mu.Lock()
	c.events[e] = ev
	c.mu.Unlock()
	return e, nil
}

func (c *cuContext) DestroyEvent(e Event) error {
	ev, err := c.cuEvent(e)
	if err != nil {
		return err
	}
	c.mu.Lock()
	delete(c.events, e)
	c.mu.Unlock()
	return wrap(cu.DestroyEvent(&ev))
}

func (c *cuContext) Record(e Event, s Stream) error {
	ev, err := c.cuEvent(e)
	if err != nil {
		return err
	}
	return wrap(ev.Record(c.cuStream(s)))
}

func (c *cuContext) WaitEvent(s Stream, e Event) error {
	ev, err := c.cuEvent(e)
	if err != nil {
		return err
	}
	return wrap(c.cuStream(s).Wait(ev, 0))
}

func (c *cuContext) SyncEvent(e Event) error {
	ev, err := c.cuEvent(e)
	if err != nil {
		return err
	}
	return wrap(ev.Synchronize())
}

func (c *cuContext) SyncStream(s Stream) error {
	st := c.cuStream(s)
	return wrap(st.Synchronize())
}

func (c *cuContext) CopyHtoDAsync(dst DevicePtr, src HostPtr, off, n int64, s Stream) error {
	p, err := c.pinnedOf(src)
	if err != nil {
		return err
	}
	if off < 0 || n < 0 || off+n > p.n {
		return fmt.Errorf("%w: async copy of %d bytes at %d of a %d-byte pinned buffer", ErrCUDA, n, off, p.n)
	}
	return wrap(cu.MemcpyHtoDAsync(cu.DevicePtr(dst), unsafe.Add(p.p, off), n, c.cuStream(s)))
}

func (c *cuContext) CopyDtoHAsync(dst HostPtr, off int64, src DevicePtr, n int64, s Stream) error {
	p, err := c.pinnedOf(dst)
	if err != nil {
		return err
	}
	if off < 0 || n < 0 || off+n > p.n {
		return fmt.Errorf("%w: async copy of %d bytes at %d of a %d-byte pinned buffer", ErrCUDA, n, off, p.n)
	}
	return wrap(cu.MemcpyDtoHAsync(unsafe.Add(p.p, off), cu.DevicePtr(src), n, c.cuStream(s)))
}
