package gputest

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/gpu"
)

// The fake must refuse unordered use, or the tests below prove nothing.
func TestFakeOrdering(t *testing.T) {
	type env struct {
		f            *Fake
		s1, s2       gpu.Stream
		e            gpu.Event
		buf, out     gpu.DevicePtr
		pin          gpu.HostPtr
		read, write2 func(s gpu.Stream) error // a kernel reading buf (writing out); one writing buf
	}
	for _, c := range []struct {
		name string
		run  func(v env) error
		want string // "" for no error
	}{
		{"kernel after an upload on its own stream", func(v env) error {
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s1); err != nil {
				return err
			}
			return v.read(v.s1)
		}, ""},
		{"kernel after an upload on another stream, no wait", func(v env) error {
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			return v.read(v.s1)
		}, "not ordered before"},
		{"kernel after an upload on another stream, event waited", func(v env) error {
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			if err := v.f.Record(v.e, v.s2); err != nil {
				return err
			}
			if err := v.f.WaitEvent(v.s1, v.e); err != nil {
				return err
			}
			return v.read(v.s1)
		}, ""},
		{"event recorded before the upload", func(v env) error {
			if err := v.f.Record(v.e, v.s2); err != nil {
				return err
			}
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			if err := v.f.WaitEvent(v.s1, v.e); err != nil {
				return err
			}
			return v.read(v.s1)
		}, "not ordered before"},
		{"kernel after the host synchronised the upload", func(v env) error {
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s2); err != nil {
				return err
			}
			if err := v.f.SyncStream(v.s2); err != nil {
				return err
			}
			return v.read(v.s1)
		}, ""},
		{"upload over a buffer a kernel on another stream still reads", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			return v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s2)
		}, "still being read"},
		{"two kernels writing one buffer on two streams", func(v env) error {
			if err := v.write2(v.s1); err != nil {
				return err
			}
			return v.write2(v.s2)
		}, "not ordered before"},
		{"pinned buffer rewritten by the host while its upload is in flight", func(v env) error {
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s1); err != nil {
				return err
			}
			_, err := v.f.HostBytes(v.pin)
			return err
		}, "host access to a pinned buffer while"},
		{"pinned buffer read by the host before its download is synchronised", func(v env) error {
			if err := v.f.CopyDtoHAsync(v.pin, 0, v.buf, 64, v.s1); err != nil {
				return err
			}
			if err := v.f.SyncStream(v.s2); err != nil { // the wrong stream
				return err
			}
			_, err := v.f.HostBytes(v.pin)
			return err
		}, "host access to a pinned buffer while"},
		{"pinned buffer after its event is synchronised", func(v env) error {
			if err := v.f.CopyDtoHAsync(v.pin, 0, v.buf, 64, v.s1); err != nil {
				return err
			}
			if err := v.f.Record(v.e, v.s1); err != nil {
				return err
			}
			if err := v.f.SyncEvent(v.e); err != nil {
				return err
			}
			_, err := v.f.HostBytes(v.pin)
			return err
		}, ""},
		{"pinned buffer freed with its copy in flight", func(v env) error {
			if err := v.f.CopyHtoDAsync(v.buf, v.pin, 0, 64, v.s1); err != nil {
				return err
			}
			return v.f.FreeHost(v.pin)
		}, "cuMemFreeHost while"},
		{"device buffer freed while a kernel uses it", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			return v.f.Free(v.out)
		}, "still uses it"},
		{"device buffer freed after synchronising", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			if err := v.f.Synchronize(); err != nil {
				return err
			}
			return v.f.Free(v.out)
		}, ""},
		{"synchronous copy after a kernel on a blocking stream", func(v env) error {
			if err := v.read(v.s1); err != nil {
				return err
			}
			return v.f.CopyDtoH(make([]byte, 16), v.out)
		}, ""},
		{"a kernel on a destroyed stream", func(v env) error {
			if err := v.f.DestroyStream(v.s2); err != nil {
				return err
			}
			return v.read(v.s2)
		}, "does not exist"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, err := newFake(Device{})
			if err != nil {
				t.Fatal(err)
			}
			sum, _ := fakeModule{f}.Function("sum_rows") // (const float *x, float *out, i64 n, i64 width)
			err = f.Do(func() error {
				v := env{f: f}
				var err error
				for _, step := range []func() error{
					func() (err error) { v.s1, err = f.NewStream(); return },
					func() (err error) { v.s2, err = f.NewStream(); return },
					func() (err error) { v.e, err = f.NewEvent(); return },
					func() (err error) { v.buf, err = f.Alloc(64); return },
					func() (err error) { v.out, err = f.Alloc(16); return },
					func() (err error) { v.pin, err = f.AllocHost(64); return },
				} {
					if err = step(); err != nil {
						t.Fatal(err)
					}
				}
				v.read = func(s gpu.Stream) error {
					return sum.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{ptrArg(v.buf), ptrArg(v.out), intArg(4), intArg(4)}, s)
				}
				v.write2 = func(s gpu.Stream) error {
					return sum.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{ptrArg(v.out), ptrArg(v.buf), intArg(1), intArg(4)}, s)
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
