package gputest

import (
	"fmt"
	"maps"
	"slices"

	"github.com/graft-ml/graft/gpu"
)

// The fake driver's model of CUDA's ordering: streams, events, pinned host
// memory and asynchronous copies. Each stream carries a vector clock, the
// count of operations of every stream that are ordered before its next one;
// an operation is stamped with its stream and its position there. Work X
// is ordered before work on stream s when s's clock has reached X's stamp:
// X ran earlier on s, or s waited for an event recorded after X. The host
// has a clock too, advanced by synchronisation. Stream 0 is the legacy
// default stream: its work waits for every (blocking) stream and theirs
// for it, as with CUDA's default stream flags.
//
// Every device allocation and pinned buffer keeps the stamp of its last
// write and of the reads since; the fake then refuses:
//   - a kernel or copy that reads or writes a buffer whose last write is
//     not ordered before it (an upload on another stream without an event
//     wait), or writes one still being read;
//   - host access to a pinned buffer (hostBytes) while a copy of it is in
//     flight (not synchronised by the host);
//   - freeing a device or pinned buffer still in use on a stream.

// vclock is a vector clock over streams.
type vclock map[gpu.Stream]uint64

func (v vclock) join(o vclock) {
	for s, n := range o {
		v[s] = max(v[s], n)
	}
}

// stamp is one operation: its stream and position there; n 0 is none.
type stamp struct {
	s gpu.Stream
	n uint64
}

// access is the ordering state of one buffer.
type access struct {
	write stamp
	reads []stamp
}

// fakeHost is a pinned host allocation.
type fakeHost struct {
	b   []byte
	acc access
}

// orderState is the fake's ordering model; every method runs with f.mu held.
type orderState struct {
	streams map[gpu.Stream]vclock
	events  map[gpu.Event]vclock // nil: never recorded
	host    vclock
	dev     map[gpu.DevicePtr]*access // by allocation base
	pinned  map[gpu.HostPtr]*fakeHost
	next    uint64 // handles
	copies  []Copy
}

// Copy is one asynchronous copy: its direction, size and stream.
type Copy struct {
	ToDevice bool
	Bytes    int64
	Stream   gpu.Stream
}

func newOrderState() orderState {
	return orderState{streams: map[gpu.Stream]vclock{0: {}}, events: map[gpu.Event]vclock{}, host: vclock{},
		dev: map[gpu.DevicePtr]*access{}, pinned: map[gpu.HostPtr]*fakeHost{}, next: 1}
}

// issue stamps the next operation on s.
func (o *orderState) issue(s gpu.Stream) (stamp, error) {
	vc, ok := o.streams[s]
	if !ok {
		return stamp{}, invalid("stream %d does not exist (destroyed, or never created)", s)
	}
	vc.join(o.host)
	if s == 0 {
		for _, other := range o.streams {
			vc.join(other)
		}
	} else {
		vc.join(o.streams[0])
	}
	vc[s]++
	return stamp{s, vc[s]}, nil
}

// ordered is whether st is ordered before the current operation of s.
func (o *orderState) ordered(st stamp, s gpu.Stream) bool {
	return st.n == 0 || o.streams[s][st.s] >= st.n
}

// done is whether the host has synchronised with st.
func (o *orderState) done(st stamp) bool { return st.n == 0 || o.host[st.s] >= st.n }

// use checks an operation at st reading (or, with write, writing) a
// buffer, and records it.
func (o *orderState) use(a *access, st stamp, write bool, what string) error {
	if !o.ordered(a.write, st.s) {
		return invalid("%s on stream %d: the buffer's last write (operation %d on stream %d) is not ordered before it: issue both on one stream or wait for an event recorded after the write", what, st.s, a.write.n, a.write.s)
	}
	if write {
		for _, r := range a.reads {
			if !o.ordered(r, st.s) {
				return invalid("%s on stream %d overwrites a buffer still being read by operation %d on stream %d: wait for an event recorded after the read", what, st.s, r.n, r.s)
			}
		}
		a.write, a.reads = st, nil
		return nil
	}
	live := a.reads[:0]
	for _, r := range a.reads {
		if !o.ordered(r, st.s) {
			live = append(live, r)
		}
	}
	a.reads = append(live, st)
	return nil
}

// idle is whether the host has synchronised with every use of a buffer;
// the error names the first in flight.
func (o *orderState) idle(a *access, what string) error {
	for _, st := range append([]stamp{a.write}, a.reads...) {
		if !o.done(st) {
			return invalid("%s while operation %d on stream %d still uses it: synchronise the stream (or an event recorded after it) first", what, st.n, st.s)
		}
	}
	return nil
}

// devAccess is the state of the allocation holding p.
func (f *Fake) devAccess(p gpu.DevicePtr) *access {
	for base, b := range f.mem {
		if p >= base && p < base+gpu.DevicePtr(len(b)) {
			a := f.order.dev[base]
			if a == nil {
				a = &access{}
				f.order.dev[base] = a
			}
			return a
		}
	}
	return &access{} // span has refused it already
}

func (f *Fake) AllocHost(bytes int64) (gpu.HostPtr, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, err
	}
	if bytes <= 0 {
		return 0, invalid("cuMemAllocHost of %d bytes", bytes)
	}
	h := gpu.HostPtr(f.order.next)
	f.order.next++
	f.order.pinned[h] = &fakeHost{b: make([]byte, bytes)}
	return h, nil
}

func (f *Fake) pinnedBuf(h gpu.HostPtr, what string) (*fakeHost, error) {
	p, ok := f.order.pinned[h]
	if !ok {
		return nil, invalid("%s: pinned buffer %d is not live (freed, or foreign)", what, h)
	}
	return p, nil
}

func (f *Fake) HostBytes(h gpu.HostPtr) ([]byte, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return nil, err
	}
	p, err := f.pinnedBuf(h, "host access")
	if err != nil {
		return nil, err
	}
	if err := f.order.idle(&p.acc, "host access to a pinned buffer"); err != nil {
		return nil, err
	}
	return p.b, nil
}

func (f *Fake) FreeHost(h gpu.HostPtr) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	p, err := f.pinnedBuf(h, "cuMemFreeHost")
	if err != nil {
		return err
	}
	if err := f.order.idle(&p.acc, "cuMemFreeHost"); err != nil {
		return err
	}
	delete(f.order.pinned, h)
	return nil
}

func (f *Fake) NewStream() (gpu.Stream, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, err
	}
	s := gpu.Stream(f.order.next)
	f.order.next++
	f.order.streams[s] = vclock{}
	return s, nil
}

func (f *Fake) DestroyStream(s gpu.Stream) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if _, ok := f.order.streams[s]; !ok || s == 0 {
		return invalid("cuStreamDestroy(%d): not a live stream", s)
	}
	// CUDA lets the stream's work finish; it takes no new work.
	delete(f.order.streams, s)
	return nil
}

func (f *Fake) NewEvent() (gpu.Event, error) {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return 0, err
	}
	e := gpu.Event(f.order.next)
	f.order.next++
	f.order.events[e] = nil
	return e, nil
}

func (f *Fake) event(e gpu.Event, what string) error {
	if _, ok := f.order.events[e]; !ok {
		return invalid("%s(%d): not a live event", what, e)
	}
	return nil
}

func (f *Fake) DestroyEvent(e gpu.Event) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if err := f.event(e, "cuEventDestroy"); err != nil {
		return err
	}
	delete(f.order.events, e)
	return nil
}

func (f *Fake) Record(e gpu.Event, s gpu.Stream) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if err := f.event(e, "cuEventRecord"); err != nil {
		return err
	}
	if _, err := f.order.issue(s); err != nil {
		return err
	}
	f.order.events[e] = maps.Clone(f.order.streams[s])
	return nil
}

func (f *Fake) WaitEvent(s gpu.Stream, e gpu.Event) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if err := f.event(e, "cuStreamWaitEvent"); err != nil {
		return err
	}
	vc, ok := f.order.streams[s]
	if !ok {
		return invalid("cuStreamWaitEvent: stream %d does not exist", s)
	}
	vc.join(f.order.events[e])
	return nil
}

func (f *Fake) SyncEvent(e gpu.Event) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	if err := f.event(e, "cuEventSynchronize"); err != nil {
		return err
	}
	f.order.host.join(f.order.events[e])
	return nil
}

func (f *Fake) SyncStream(s gpu.Stream) error {
	defer f.mu.Unlock()
	if err := f.enter(); err != nil {
		return err
	}
	vc, ok := f.order.streams[s]
	if !ok {
		return invalid("cuStreamSynchronize: stream %d does not exist", s)
	}
	f.order.host.join(vc)
	f.syncs++
	return nil
}

// asyncCopy checks and records a copy between pinned buffer h (bytes
// [off, off+n)) and device memory at p on s.
func (f *Fake) asyncCopy(toDevice bool, p gpu.DevicePtr, h gpu.HostPtr, off, n int64, s gpu.Stream) ([]byte, []byte, error) {
	name := map[bool]string{true: "cuMemcpyHtoDAsync", false: "cuMemcpyDtoHAsync"}[toDevice]
	if err := f.enter(); err != nil {
		return nil, nil, err
	}
	ph, err := f.pinnedBuf(h, name)
	if err != nil {
		return nil, nil, err
	}
	if off < 0 || n < 0 || off+n > int64(len(ph.b)) {
		return nil, nil, invalid("%s of %d bytes at offset %d of a %d-byte pinned buffer", name, n, off, len(ph.b))
	}
	dev, err := f.span(name, p, n)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.order.issue(s)
	if err != nil {
		return nil, nil, err
	}
	if err := f.order.use(&ph.acc, st, !toDevice, name+" (pinned side)"); err != nil {
		return nil, nil, err
	}
	if err := f.order.use(f.devAccess(p), st, toDevice, name+" (device side)"); err != nil {
		return nil, nil, err
	}
	f.order.copies = append(f.order.copies, Copy{ToDevice: toDevice, Bytes: n, Stream: s})
	return ph.b[off : off+n], dev, nil
}

// The copy itself happens at once: the ordering checks above stand for
// its completion time.
func (f *Fake) CopyHtoDAsync(dst gpu.DevicePtr, src gpu.HostPtr, off, n int64, s gpu.Stream) error {
	defer f.mu.Unlock()
	host, dev, err := f.asyncCopy(true, dst, src, off, n, s)
	if err == nil {
		copy(dev, host)
	}
	return err
}

func (f *Fake) CopyDtoHAsync(dst gpu.HostPtr, off int64, src gpu.DevicePtr, n int64, s gpu.Stream) error {
	defer f.mu.Unlock()
	host, dev, err := f.asyncCopy(false, src, dst, off, n, s)
	if err == nil {
		copy(host, dev)
	}
	return err
}

// legacy records a synchronous call's use of device memory on the legacy
// stream; sync is whether the host waits for it (copies do).
func (f *Fake) legacy(p gpu.DevicePtr, write, sync bool, what string) error {
	st, err := f.order.issue(0)
	if err != nil {
		return err
	}
	if err := f.order.use(f.devAccess(p), st, write, what); err != nil {
		return err
	}
	if sync {
		f.order.host.join(f.order.streams[0])
	}
	return nil
}

// bufUse is a kernel's pointer argument: where, and whether it writes.
type bufUse struct {
	p     gpu.DevicePtr
	write bool
	name  string
}

// launched checks and records a kernel's use of its pointer arguments.
func (f *Fake) launched(name string, params []bufUse, s gpu.Stream) error {
	st, err := f.order.issue(s)
	if err != nil {
		return err
	}
	// All checks first: a kernel may read and write one allocation
	// through two arguments.
	type use struct {
		a     *access
		write bool
		what  string
	}
	var uses []use
	for _, p := range params {
		uses = append(uses, use{f.devAccess(p.p), p.write, fmt.Sprintf("%s argument %s", name, p.name)})
	}
	for _, u := range uses {
		if !f.order.ordered(u.a.write, s) {
			return f.order.use(u.a, st, u.write, u.what)
		}
		if u.write {
			for _, r := range u.a.reads {
				if !f.order.ordered(r, s) {
					return f.order.use(u.a, st, true, u.what)
				}
			}
		}
	}
	for _, u := range uses {
		if err := f.order.use(u.a, st, u.write, u.what); err != nil {
			return err
		}
	}
	return nil
}

// Copies is the asynchronous copies so far, in order.
func (f *Fake) Copies() []Copy {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.order.copies)
}

// PinnedBuffers counts the live pinned host allocations.
func (f *Fake) PinnedBuffers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.order.pinned)
}

// AsyncCopies counts the asynchronous copies so far, to the device and
// back.
func (f *Fake) AsyncCopies() (toDevice, toHost int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.order.copies {
		if c.ToDevice {
			toDevice++
		} else {
			toHost++
		}
	}
	return
}
