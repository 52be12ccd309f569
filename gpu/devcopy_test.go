package gpu_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/head"
)

// TestCopyFromDevice: device-to-device copies into a feature buffer
// (the TensorFlow join), against the fake driver: values land at the
// offset, the context is synchronised first, and bad sizes, offsets and
// foreign or freed sources are errors.
func TestCopyFromDevice(t *testing.T) {
	ops, f := fakeOps(t, 1<<20, gputest.Device{})
	src, err := ops.Alloc(6) // stands for TensorFlow's output
	if err != nil {
		t.Fatal(err)
	}
	vals := []float32{1, -2, 3.5, 4, 5, 6e-7}
	if err := ops.Upload(src, 0, vals); err != nil {
		t.Fatal(err)
	}
	dst, err := ops.Alloc(10)
	if err != nil {
		t.Fatal(err)
	}
	syncs := f.Syncs()
	if err := ops.CopyFromDevice(dst, 3, uintptr(gpu.BufferPtr(src)), 6); err != nil {
		t.Fatal(err)
	}
	if f.Syncs() != syncs+1 {
		t.Errorf("%d synchronisations before the copy, want 1", f.Syncs()-syncs)
	}
	got := make([]float32, 10)
	if err := ops.Download(got, dst, 0); err != nil {
		t.Fatal(err)
	}
	if want := append([]float32{0, 0, 0}, append(vals, 0)...); !slices.Equal(got, want) {
		t.Errorf("after the copy: %v, want %v", got, want)
	}
	ptr := uintptr(gpu.BufferPtr(src))
	for _, c := range []struct {
		name      string
		offset, n int
		src       uintptr
		want      string
	}{
		{"past the end", 5, 6, ptr, "into a buffer of 10"},
		{"negative offset", -1, 2, ptr, "into a buffer of 10"},
		{"null source", 0, 2, 0, "not a float32 device address"},
		{"misaligned source", 0, 2, ptr + 2, "not a float32 device address"},
		{"foreign source", 0, 2, 0x1000, "not in any live allocation"},
	} {
		err := ops.CopyFromDevice(dst, c.offset, c.src, c.n)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		}
	}
	cpu, err := head.NewCPUOps().Alloc(4)
	if err != nil {
		t.Fatal(err)
	}
	if err := ops.CopyFromDevice(cpu, 0, ptr, 1); err == nil {
		t.Error("into a CPU buffer: no error")
	}
}
