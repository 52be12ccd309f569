//go:build tensorflow

package tf

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unsafe"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
)

// The eager path against the session path, on the CPU, where the device
// pointer is a host pointer (make test-tf).

// devicePointerTensor reads d through its device pointer, as the CUDA
// head's device-to-device copy would (on the CPU it is host memory).
func devicePointerTensor(t *testing.T, d *DeviceTensor) *tensor.Tensor {
	t.Helper()
	if !d.OnHost || d.Ptr == 0 || !strings.HasSuffix(d.Device, "/device:CPU:0") {
		t.Fatalf("CPU result at %#x on %q (on host %v)", d.Ptr, d.Device, d.OnHost)
	}
	if d.DType != tensor.Float32 || d.Bytes%4 != 0 {
		t.Fatalf("result %s of %d bytes", d.DType, d.Bytes)
	}
	x := tensor.New(tensor.Float32, d.Shape...)
	if int64(4*len(x.F32)) != d.Bytes {
		t.Fatalf("shape %v for %d bytes", d.Shape, d.Bytes)
	}
	h := d.HostFloats()
	if len(h) != len(x.F32) || uintptr(unsafe.Pointer(&h[0])) != d.Ptr {
		t.Fatalf("host view of %d floats at %p, device pointer %#x", len(h), h, d.Ptr)
	}
	copy(x.F32, h)
	return x
}

// compareBits returns the largest |a-b| relative to max |b| and whether
// a and b are equal bit for bit.
func compareBits(a, b *tensor.Tensor) (float64, bool) {
	scale, worst, same := 0.0, 0.0, true
	for i, w := range b.F32 {
		scale = math.Max(scale, math.Abs(float64(w)))
		worst = math.Max(worst, math.Abs(float64(a.F32[i]-w)))
		same = same && math.Float32bits(a.F32[i]) == math.Float32bits(w)
	}
	if scale == 0 {
		return worst, same
	}
	return worst / scale, same
}

func TestEagerMatchesSession(t *testing.T) {
	for _, dir := range fixtures(t) {
		for _, o := range []native.Options{{}, {Tap: "conv2d_1"}, {Tap: "conv2d_2"}} {
			name := filepath.Base(dir) + " " + o.Tap
			sb, err := Open(dir, Options{Options: o, Device: "cpu"})
			if err != nil {
				t.Fatalf("%s: session: %v", name, err)
			}
			eb, err := OpenEager(dir, Options{Options: o, Device: "cpu"})
			if err != nil {
				t.Fatalf("%s: eager: %v", name, err)
			}
			if !reflect.DeepEqual(eb.Tap(), sb.Tap()) || !reflect.DeepEqual(eb.Input(), sb.Input()) {
				t.Errorf("%s: eager tap %v input %v, session %v %v", name, eb.Tap(), eb.Input(), sb.Tap(), sb.Input())
			}
			for _, n := range []int{1, 7} {
				x := randomBatch(sb.Input().Shape, n)
				want, err := sb.Features(context.Background(), x)
				if err != nil {
					t.Fatal(err)
				}
				d, err := eb.DeviceFeatures(context.Background(), x)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				got := devicePointerTensor(t, d)
				host, err := d.Host()
				d.Release()
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Shape, want.Shape) || !reflect.DeepEqual(host, got) {
					t.Fatalf("%s batch %d: eager %v (Host %v), session %v", name, n, got.Shape, host.Shape, want.Shape)
				}
				rel, same := compareBits(got, want)
				t.Logf("EAGER %s batch %d: max rel diff %.3g, bit for bit %v", name, n, rel, same)
				// A small CNN on TensorFlow's CPU kernels is deterministic:
				// the same kernels run either way.
				if !same {
					t.Errorf("%s batch %d: eager differs from the session (max rel %.3g), want bit for bit", name, n, rel)
				}
			}
			if err := eb.Close(); err != nil {
				t.Error(err)
			}
			if _, err := eb.DeviceFeatures(context.Background(), randomBatch(sb.Input().Shape, 1)); !errors.Is(err, errClosed) {
				t.Errorf("after Close: %v, want errClosed", err)
			}
			sb.Close()
		}
	}
}

// TestEagerBadInput: wrong batches are errors, as on the session path.
func TestEagerBadInput(t *testing.T) {
	eb, err := OpenEager(fashionCNN, Options{Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	defer eb.Close()
	for _, x := range []*tensor.Tensor{nil, tensor.New(tensor.Float32, 2, 27, 28, 1), tensor.New(tensor.Int64, 2, 28, 28, 1)} {
		if d, err := eb.DeviceFeatures(context.Background(), x); err == nil {
			d.Release()
			t.Errorf("batch %v: no error", x)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := eb.Features(ctx, randomBatch(eb.Input().Shape, 2)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestEagerMissingDevice(t *testing.T) {
	_, err := OpenEager(fashionCNN, Options{Device: "cuda:7"})
	if !errors.Is(err, ErrOptions) || !strings.Contains(err.Error(), "cuda:7") {
		t.Fatalf("OpenEager on cuda:7: %v, want ErrOptions naming the device", err)
	}
}

// TestToDevice: the join to the CUDA head, with TensorFlow on the CPU
// and the CUDA ops on the fake driver: each row lands in the head's
// buffer at its slot (uploaded: a host pointer), equal to the session's;
// slots past the buffer's end or a row count that is not the batch's are
// errors.
func TestToDevice(t *testing.T) {
	opt := Options{Options: native.Options{Tap: "conv2d_2"}, Device: "cpu"}
	sb, err := Open(fashionCNN, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer sb.Close()
	eb, err := OpenEager(fashionCNN, opt)
	if err != nil {
		t.Fatal(err)
	}
	defer eb.Close()
	ops, _, err := gputest.NewOps(gpu.Options{MemoryBudget: 64 << 20}, gputest.Device{})
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Close()
	x := randomBatch(sb.Input().Shape, 3)
	want, err := sb.Features(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	size := len(want.F32) / 3
	buf, err := ops.Alloc(6 * size)
	if err != nil {
		t.Fatal(err)
	}
	onDevice, err := ToDevice(context.Background(), eb, ops, buf, []int{2, 3, 5}, x)
	if err != nil || onDevice {
		t.Fatalf("ToDevice: on device %v, %v; want a host upload", onDevice, err)
	}
	got := make([]float32, 6*size)
	if err := ops.Download(got, buf, 0); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[2*size:4*size], want.F32[:2*size]) || !slices.Equal(got[5*size:], want.F32[2*size:]) {
		t.Errorf("the buffer does not hold the session's features at slots 2, 3 and 5")
	}
	if slices.ContainsFunc(append(got[:2*size:2*size], got[4*size:5*size]...), func(v float32) bool { return v != 0 }) {
		t.Errorf("slots 0, 1 and 4 were written")
	}
	for _, rows := range [][]int{{4, 5, 6}, {0, 1}, {-1, 0, 1}} {
		if _, err := ToDevice(context.Background(), eb, ops, buf, rows, x); err == nil {
			t.Errorf("rows %v: no error", rows)
		}
	}
}
