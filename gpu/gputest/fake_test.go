package gputest

// The fake's own checks: what it refuses, as a real driver (or
// compute-sanitizer) would.

import (
	"math"
	"strings"
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/kernels"
)

// fakeOps opens CUDAOps on a fake device, closed at the end of the test.
func fakeOps(t *testing.T, budget int64, dev Device) (*gpu.CUDAOps, *Fake) {
	t.Helper()
	ops, f, err := NewOps(gpu.Options{MemoryBudget: budget}, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ops.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return ops, f
}

// Kernel arguments, as gpu packs them.
func ptrArg(p gpu.DevicePtr) gpu.Arg { return gpu.Arg{Kind: gpu.ArgPtr, Bits: uint64(p)} }
func intArg(v int) gpu.Arg           { return gpu.Arg{Kind: gpu.ArgInt, Bits: uint64(int64(v))} }
func floatArg(v float64) gpu.Arg     { return gpu.Arg{Kind: gpu.ArgFloat, Bits: math.Float64bits(v)} }

// The fake must refuse what a real driver would, or else the test above
// proves nothing.
func TestFakeRefusesBadCalls(t *testing.T) {
	_, f := fakeOps(t, 0, Device{})
	fn, err := fakeModule{f}.Function("pool_rows") // (const float *x, float *pooled, i64 hw, i64 width)
	if err != nil {
		t.Fatal(err)
	}
	var live, gone gpu.DevicePtr
	inside := func(call func() error) error { return f.Do(call) }
	if err := inside(func() error {
		var err error
		if live, err = f.Alloc(1024); err != nil {
			return err
		}
		if gone, err = f.Alloc(1024); err != nil {
			return err
		}
		return f.Free(gone)
	}); err != nil {
		t.Fatal(err)
	}
	ok := []gpu.Arg{ptrArg(live), ptrArg(live + 512), intArg(4), intArg(8)}
	if err := inside(func() error { return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, ok, 0) }); err != nil {
		t.Fatalf("a good launch: %v", err)
	}
	for _, c := range []struct {
		name string
		call func() error
		want string
	}{
		{"outside do", func() error { return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, ok, 0) }, "outside do"},
		{"missing argument", func() error {
			return inside(func() error { return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, ok[:3], 0) })
		}, "3 arguments"},
		{"int where a pointer goes", func() error {
			return inside(func() error {
				return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{intArg(1), ok[1], ok[2], ok[3]}, 0)
			})
		}, "argument 0"},
		{"double where an i64 goes", func() error {
			return inside(func() error {
				return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{ok[0], ok[1], floatArg(4), ok[3]}, 0)
			})
		}, "argument 2"},
		{"freed pointer", func() error {
			return inside(func() error {
				return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{ptrArg(gone), ok[1], ok[2], ok[3]}, 0)
			})
		}, "not in any live allocation"},
		{"grid y over 65535", func() error {
			return inside(func() error { return fn.Launch(gpu.Dim3{X: 1, Y: 65536, Z: 1}, 128, ok, 0) })
		}, "grid"},
		{"block over 1024", func() error {
			return inside(func() error { return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 2048, ok, 0) })
		}, "block"},
		{"block over the launch bounds", func() error {
			g, _ := fakeModule{f}.Function("conv_fwd")
			return inside(func() error { return g.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 512, nil, 0) })
		}, "1 to 256"},
		{"copy past the end", func() error { return inside(func() error { return f.CopyHtoD(live+1000, make([]byte, 32)) }) }, "past the end"},
		{"copy from a freed block", func() error { return inside(func() error { return f.CopyDtoH(make([]byte, 4), gone) }) }, "not in any live allocation"},
		{"double free", func() error { return inside(func() error { return f.Free(gone) }) }, "freed twice"},
		{"unknown kernel", func() error { _, err := fakeModule{f}.Function("conv_bwd_data"); return err }, "NOT_FOUND"},
	} {
		err := c.call()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// The fake's extents table names every kernel of head.cu and only
// pointer parameters they declare.
func TestFakeExtentsMatchHeadCU(t *testing.T) {
	sigs, err := kernels.Signatures(kernels.Source)
	if err != nil {
		t.Fatal(err)
	}
	for name, sig := range sigs {
		ext, ok := fakeExtents[name]
		if !ok {
			t.Errorf("no extents for kernel %s", name)
			continue
		}
		pointers := map[string]bool{}
		for _, p := range sig.Params {
			pointers[p.Name] = p.Pointer
		}
		for param := range ext(map[string]int64{}, gpu.Dim3{X: 1, Y: 1, Z: 1}, func(string, int64) int64 { return 1 }) {
			if !pointers[param] {
				t.Errorf("%s: extents for %q, not a pointer parameter of the kernel", name, param)
			}
		}
	}
	for name := range fakeExtents {
		if _, ok := sigs[name]; !ok {
			t.Errorf("extents for %s, which head.cu does not declare", name)
		}
	}
}

// A buffer shorter than the kernel touches is refused, as memcheck would.
func TestFakeRefusesShortBuffers(t *testing.T) {
	_, f := fakeOps(t, 0, Device{})
	fn, _ := fakeModule{f}.Function("sum_rows") // (const float *x, float *out, i64 n, i64 width)
	err := f.Do(func() error {
		x, err := f.Alloc(4 * 12)
		if err != nil {
			return err
		}
		out, err := f.Alloc(4 * 4)
		if err != nil {
			return err
		}
		if err := fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{ptrArg(x), ptrArg(out), intArg(3), intArg(4)}, 0); err != nil {
			t.Errorf("3 rows of 4 in 12 floats: %v", err)
		}
		return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 128, []gpu.Arg{ptrArg(x), ptrArg(out), intArg(4), intArg(4)}, 0)
	})
	if err == nil || !strings.Contains(err.Error(), "argument x (16 elements)") || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("4 rows of 4 in 12 floats: %v", err)
	}
}

// The fake refuses tensor-core launches whose shape or alignment the
// kernels assume and do not check.
func TestFakeRefusesTensorCorePreconditions(t *testing.T) {
	_, f := fakeOps(t, 0, Device{})
	fn, _ := fakeModule{f}.Function("conv_fwd_tf32")
	launch := func(c, kslice int, shift gpu.DevicePtr) error {
		return f.Do(func() error {
			feats, _ := f.Alloc(4 * 2 * 9 * 32)
			idx, _ := f.Alloc(4 * 2)
			w, _ := f.Alloc(4 * 9 * 32 * 8)
			bias, _ := f.Alloc(4 * 8)
			out, _ := f.Alloc(4 * 2 * 9 * 8)
			return fn.Launch(gpu.Dim3{X: 1, Y: 1, Z: 1}, 256, []gpu.Arg{ptrArg(feats + shift), ptrArg(idx), ptrArg(w), ptrArg(bias), ptrArg(out),
				intArg(2), intArg(3), intArg(3), intArg(c), intArg(8), intArg(3), intArg(kslice), intArg(1)}, 0)
		})
	}
	if err := launch(16, 144, 0); err != nil {
		t.Errorf("a valid launch: %v", err)
	}
	for _, c := range []struct {
		c, kslice int
		shift     gpu.DevicePtr
		want      string
	}{
		{8, 72, 0, "do not take this shape"},
		{16, 72, 0, "do not take this shape"}, // a slice of 72 mixes taps
		{16, 144, 4, "not 16-byte aligned"},
	} {
		if err := launch(c.c, c.kslice, c.shift); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("c %d slice %d shift %d: %v, want %q", c.c, c.kslice, c.shift, err, c.want)
		}
	}
}
