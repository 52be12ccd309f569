package gpu

// Streams, events, pinned memory and asynchronous copies against the fake
// driver's ordering model (fake_order.go): what it refuses, the training
// step's copies, and the streamed features' double buffers.

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/head"
)

// The fake must refuse unordered use, or the tests below prove nothing.
func TestFakeOrdering(t *testing.T) {
	type env struct {
		f            *Fake
		s1, s2       stream
		e            event
		buf, out     devicePtr
		pin          hostPtr
		read, write2 func(s stream) error // a kernel reading buf (writing out); one writing buf
	}
	for _, c := range []struct {
		name string
		run  func(v env) error
		want string // "" for no error
	}{
		{"kernel after an upload on its own stream", func(v env) error {
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s1); err != nil {
				return err
			}
			return v.read(v.s1)
		}, ""},
		{"kernel after an upload on another stream, no wait", func(v env) error {
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			return v.read(v.s1)
		}, "not ordered before"},
		{"kernel after an upload on another stream, event waited", func(v env) error {
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			if err := v.f.record(v.e, v.s2); err != nil {
				return err
			}
			if err := v.f.waitEvent(v.s1, v.e); err != nil {
				return err
			}
			return v.read(v.s1)
		}, ""},
		{"event recorded before the upload", func(v env) error {
			if err := v.f.record(v.e, v.s2); err != nil {
				return err
			}
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			if err := v.f.waitEvent(v.s1, v.e); err != nil {
				return err
			}
			return v.read(v.s1)
		}, "not ordered before"},
		{"kernel after the host synchronised the upload", func(v env) error {
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			if err := v.f.syncStream(v.s2); err != nil {
				return err
			}
			return v.read(v.s1)
		}, ""},
		{"upload over a buffer a kernel on another stream still reads", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			return v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s2)
		}, "still being read"},
		{"two kernels writing one buffer on two streams", func(v env) error {
			if err := v.write2(v.s1); err != nil {
				return err
			}
			return v.write2(v.s2)
		}, "not ordered before"},
		{"pinned buffer rewritten by the host while its upload is in flight", func(v env) error {
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s1); err != nil {
				return err
			}
			_, err := v.f.hostBytes(v.pin)
			return err
		}, "host access to a pinned buffer while"},
		{"pinned buffer read by the host before its download is synchronised", func(v env) error {
			if err := v.f.copyDtoHAsync(v.pin, 0, v.buf, 64, v.s1); err != nil {
				return err
			}
			if err := v.f.syncStream(v.s2); err != nil { // the wrong stream
				return err
			}
			_, err := v.f.hostBytes(v.pin)
			return err
		}, "host access to a pinned buffer while"},
		{"pinned buffer after its event is synchronised", func(v env) error {
			if err := v.f.copyDtoHAsync(v.pin, 0, v.buf, 64, v.s1); err != nil {
				return err
			}
			if err := v.f.record(v.e, v.s1); err != nil {
				return err
			}
			if err := v.f.syncEvent(v.e); err != nil {
				return err
			}
			_, err := v.f.hostBytes(v.pin)
			return err
		}, ""},
		{"pinned buffer freed with its copy in flight", func(v env) error {
			if err := v.f.copyHtoDAsync(v.buf, v.pin, 0, 64, v.s1); err != nil {
				return err
			}
			return v.f.freeHost(v.pin)
		}, "cuMemFreeHost while"},
		{"device buffer freed while a kernel uses it", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			return v.f.free(v.out)
		}, "still uses it"},
		{"device buffer freed after synchronising", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			if err := v.f.synchronize(); err != nil {
				return err
			}
			return v.f.free(v.out)
		}, ""},
		{"synchronous copy after a kernel on a blocking stream", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			return v.f.copyDtoH(make([]byte, 16), v.out)
		}, ""},
		{"a kernel on a destroyed stream", func(v env) error {
			if err := v.f.destroyStream(v.s2); err != nil {
				return err
			}
			return v.read(v.s2)
		}, "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := newFake(FakeDevice{})
			if err != nil {
				t.Fatal(err)
			}
			sum, _ := fakeModule{f}.function("sum_rows") // (const float *x, float *out, i64 n, i64 width)
			err = f.do(func() error {
				v := env{f: f}
				var err error
				for _, step := range []func() error{
					func() (err error) { v.s1, err = f.newStream(); return },
					func() (err error) { v.s2, err = f.newStream(); return },
					func() (err error) { v.e, err = f.newEvent(); return },
					func() (err error) { v.buf, err = f.alloc(64); return },
					func() (err error) { v.out, err = f.alloc(16); return },
					func() (err error) { v.pin, err = f.allocHost(64); return },
				} {
					if err = step(); err != nil {
						t.Fatal(err)
					}
				}
				v.read = func(s stream) error {
					return sum.launch(dim3{1, 1, 1}, 128, []arg{ptrArg(v.buf), ptrArg(v.out), intArg(4), intArg(4)}, s)
				}
				v.write2 = func(s stream) error {
					return sum.launch(dim3{1, 1, 1}, 128, []arg{ptrArg(v.out), ptrArg(v.buf), intArg(1), intArg(4)}, s)
				}
				return c.run(v)
			})
			switch {
			case c.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Errorf("got %v, want an error with %q", err, c.want)
			}
		})
	}
}

// A training step moves its inputs up in one copy (indices and labels)
// and its results back in one (losses and correct flags), both
// asynchronous, from pinned memory, on the kernels' stream; evaluation
// likewise (indices up, logits back).
func TestStepCopiesOnceEachWay(t *testing.T) {
	for _, spec := range []head.Spec{
		{Height: 5, Width: 3, Channels: 7, Kind: head.KindConv, Filters: 9, Kernel: 3, Classes: 3},
		{Height: 7, Width: 5, Channels: 37, Kind: head.KindLinear, Classes: 5},
	} {
		ops, f := fakeOps(t, 0, FakeDevice{})
		const batch, samples = 6, 9
		trainStep(t, ops, spec, batch, samples)
		want := []fakeCopy{
			{true, 8 * batch, ops.compute}, {false, 16 * batch, ops.compute}, // the step
			{true, 4 * samples, ops.compute}, {false, 4 * int64(samples*spec.Classes), ops.compute}, // the evaluation
		}
		if got := f.order.copies; !slices.Equal(got, want) {
			t.Errorf("%s head: async copies %+v, want %+v", spec.Kind, got, want)
		}
	}
}

// The streamed features' double buffers through a whole epoch of
// head.Model: every batch arrives in its slot with the right samples
// (read back from the fake's device memory when the step asks for it),
// the fake finds every use ordered, uploads go on the copy stream, and
// the slots alternate.
func TestFeatureStreamDoubleBuffers(t *testing.T) {
	spec := head.Spec{Height: 3, Width: 2, Channels: 4, Kind: head.KindConv, Filters: 5, Kernel: 3, Classes: 3}
	const samples, batch = 23, 5
	size := spec.FeatureSize()
	rng := rand.New(rand.NewPCG(3, 4))
	host := make([]float32, samples*size)
	labels := make([]int32, samples)
	for i := range host {
		host[i] = float32(rng.NormFloat64())
	}
	for i := range labels {
		labels[i] = int32(i % spec.Classes)
	}
	ops, f := fakeOps(t, 0, FakeDevice{})
	src, err := ops.NewFeatureStream(size, batch, func(i int, dst []float32) error {
		copy(dst, host[i*size:(i+1)*size])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	fs := src.(*FeatureStream)
	t.Cleanup(func() { _ = fs.Close() }) // before the ops' (cleanups run last first)
	opt, _ := head.NewOptimizer(head.Adam)
	m, err := head.New(ops, spec, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	check := &checkedSource{t: t, fs: fs, f: f, host: host, size: size}
	for range 2 {
		if _, err := m.Epoch(check, labels, batch, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Evaluate(check, labels, batch); err != nil {
		t.Fatal(err)
	}
	steps := 2*((samples+batch-1)/batch) + (samples+batch-1)/batch
	if check.batches != steps {
		t.Errorf("%d batches, want %d", check.batches, steps)
	}
	uploads := 0
	for _, c := range f.order.copies {
		if c.toDevice && c.s == fs.copy {
			uploads++
		}
	}
	if uploads != steps {
		t.Errorf("%d uploads on the copy stream, want one per batch (%d)", uploads, steps)
	}
	if err := fs.Close(); err != nil {
		t.Fatal(err)
	}
	if len(f.order.pinned) != 2 { // the step's own staging buffers remain
		t.Errorf("%d pinned buffers after closing the stream, want the ops' 2", len(f.order.pinned))
	}
}

// checkedSource is a FeatureStream whose batches are compared with the
// samples they should hold.
type checkedSource struct {
	t       *testing.T
	fs      *FeatureStream
	f       *Fake
	host    []float32
	size    int
	batches int
	last    devicePtr
}

func (c *checkedSource) Prefetch(idx []int32) { c.fs.Prefetch(idx) }

func (c *checkedSource) Batch(idx []int32) (head.Buffer, []int32, error) {
	buf, local, err := c.fs.Batch(idx)
	if err != nil {
		return nil, nil, err
	}
	c.batches++
	d := buf.(*buffer)
	if d.ptr == c.last {
		c.t.Errorf("batch %d: the same slot as the batch before", c.batches)
	}
	c.last = d.ptr
	c.f.mu.Lock()
	b, err := c.f.span("check", d.ptr, int64(4*c.size*len(idx)))
	c.f.mu.Unlock()
	if err != nil {
		c.t.Fatal(err)
	}
	got := floatsOf(slices.Clone(b))
	for j, i := range idx {
		if lj := local[j]; !slices.Equal(got[int(lj)*c.size:(int(lj)+1)*c.size], c.host[int(i)*c.size:(int(i)+1)*c.size]) {
			c.t.Fatalf("batch %d: sample %d is not in the slot at %d", c.batches, i, lj)
		}
	}
	return buf, local, nil
}
