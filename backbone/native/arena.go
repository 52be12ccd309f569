package native

import (
	"sync"
	"unsafe"

	"github.com/graft-ml/graft/backbone/tensor"
)

// arena recycles the float32 outputs of an Engine's runs. Without it every
// op's output was a fresh allocation: on MobileNetV2 at batch 32 a fifth
// of the time went to zeroing new pages, page faults, the garbage
// collector and the TLB shootdowns of returning memory to the OS.
//
// A run takes an arena (one per concurrent run), and alloc hands out its
// buffers. The executor counts the live values that point into each buffer,
// views included (a Reshape shares its input's data; a slice may point
// inside it), and returns a buffer to the free lists when the last one
// dies. Buffers still live at the end, the run's results, become the
// caller's. A request takes a free buffer of the same capacity or, failing
// that, the smallest one up to twice as large: exact sizes alone kept each
// shape's buffers apart and raised MobileNetV2's peak memory by a quarter.
// The free lists keep about one run's peak working set; an idle arena goes
// with its sync.Pool at the next garbage collections.
type arena struct {
	mu    sync.Mutex          // alloc may be called from a kernel's workers
	free  map[int][][]float32 // by capacity
	owned map[*float32]*lease // buffers of this run, by address
	made  int64               // bytes allocated, ever (WorkingSet's tests)
}

// lease is one buffer handed out in the current run and the number of
// live values that point into it.
type lease struct {
	buf  []float32
	refs int
}

func newArena() *arena {
	return &arena{free: map[int][][]float32{}, owned: map[*float32]*lease{}}
}

// get returns n floats, zeroed when zero is set (kernels may rely on a
// zero output); else a recycled buffer keeps what it held (allocRaw: for
// kernels that write every value).
func (a *arena) get(n int, zero bool) []float32 {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := fit(a.free, n)
	var b []float32
	if l := a.free[c]; c > 0 && len(l) > 0 {
		b, a.free[c] = l[len(l)-1][:n], l[:len(l)-1]
		if zero {
			clear(b)
		}
	} else {
		b = make([]float32, n)
		a.made += 4 * int64(n)
	}
	a.owned[unsafe.SliceData(b)] = &lease{buf: b}
	return b
}

// fit is the capacity of the free buffer a request for n floats takes:
// n itself, else the smallest up to 2n; 0 when none fits.
func fit[T any](free map[int][]T, n int) int {
	if len(free[n]) > 0 {
		return n
	}
	c := 0
	for size, l := range free {
		if len(l) > 0 && size > n && size <= 2*n && (c == 0 || size < c) {
			c = size
		}
	}
	return c
}

// hold counts a live value: it returns the lease of the buffer t's data
// lies in, or nil when the data is not the arena's (a feed, a constant).
func (a *arena) hold(t *tensor.Tensor) *lease {
	if t == nil || len(t.F32) == 0 {
		return nil
	}
	p := unsafe.SliceData(t.F32)
	l, ok := a.owned[p]
	if !ok { // a view into the middle of a buffer
		at := uintptr(unsafe.Pointer(p))
		for _, o := range a.owned {
			base := uintptr(unsafe.Pointer(unsafe.SliceData(o.buf)))
			if at >= base && at < base+uintptr(len(o.buf))*4 {
				l = o
				break
			}
		}
	}
	if l != nil {
		l.refs++
	}
	return l
}

// release drops a value held by hold; the buffer is free once none is left.
func (a *arena) release(l *lease) {
	if l.refs--; l.refs > 0 {
		return
	}
	delete(a.owned, unsafe.SliceData(l.buf))
	a.free[cap(l.buf)] = append(a.free[cap(l.buf)], l.buf[:cap(l.buf)])
}

// endRun gives the buffers still held, the run's results, to the caller.
func (a *arena) endRun() { clear(a.owned) }
