//go:build tensorflow

package zoo_test

import (
	"context"
	"slices"
	"testing"
	"unsafe"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/internal/testkit/zoo"
)

// TestTensorFlowEngineMatchesTensorFlow runs the zoo through graft's
// TensorFlow engine (the flat graph imported into libtensorflow) against
// TensorFlow's own outputs; it needs libtensorflow at run time (make
// test-tf).
func TestTensorFlowEngineMatchesTensorFlow(t *testing.T) {
	zoo.Parity(t, zoo.Root(t), "tensorflow", func(dir string, o native.Options) (backbone.Backbone, error) {
		return tf.Open(dir, tf.Options{Options: o, Device: "cpu"})
	})
}

// TestEagerMatchesSession runs every zoo case at every stored tap through
// the TensorFlow engine's two paths on the CPU, the eager function (read
// through its device pointer, a host pointer here) and a session without
// Grappler (the eager function runs without it too): equal to 1e-6 of the
// largest value and, as the same kernels run in the same order, bit for
// bit. (With Grappler on, the session's fusions move the values by up to
// ~3e-5 relative: the zoo's parity tests bound both against TensorFlow.)
func TestEagerMatchesSession(t *testing.T) {
	cases, err := zoo.Cases(zoo.Root(t))
	if err != nil {
		t.Fatal(err)
	}
	same, total := 0, 0
	defer func() { t.Logf("EAGER %d of %d outputs bit for bit", same, total) }()
	for _, c := range cases {
		t.Run(c.Name(), func(t *testing.T) {
			for _, o := range c.Outputs {
				opt := tf.Options{Options: native.Options{Tap: o.Tap}, Device: "cpu", NoGrappler: true}
				sb, err := tf.Open(c.SavedModel, opt)
				if err != nil {
					t.Fatalf("tap %q: session: %v", o.Tap, err)
				}
				want, err := sb.Features(context.Background(), c.Input)
				sb.Close()
				if err != nil {
					t.Fatalf("tap %q: session: %v", o.Tap, err)
				}
				eb, err := tf.OpenEager(c.SavedModel, opt)
				if err != nil {
					t.Fatalf("tap %q: eager: %v", o.Tap, err)
				}
				d, err := eb.DeviceFeatures(context.Background(), c.Input)
				if err != nil {
					eb.Close()
					t.Fatalf("tap %q: eager: %v", o.Tap, err)
				}
				if !d.OnHost || d.DType != tensor.Float32 || d.Bytes != int64(4*len(want.F32)) {
					t.Fatalf("tap %q: eager result %s of %d bytes on %q, want %d float32 bytes on the host", o.Tap, d.DType, d.Bytes, d.Device, 4*len(want.F32))
				}
				got := tensor.New(tensor.Float32, d.Shape...)
				h := d.HostFloats()
				if len(h) != len(got.F32) || uintptr(unsafe.Pointer(&h[0])) != d.Ptr {
					t.Fatalf("tap %q: host view of %d floats at %p, device pointer %#x", o.Tap, len(h), h, d.Ptr)
				}
				copy(got.F32, h)
				d.Release()
				eb.Close()
				e, err := zoo.RelErr(got, want)
				if err != nil {
					t.Fatalf("tap %q: %v", o.Tap, err)
				}
				bits := slices.Equal(got.F32, want.F32) // no NaN in the zoo's outputs (RelErr would be Inf)
				total++
				if bits {
					same++
				}
				t.Logf("EAGER %s tap %q: max |eager - session| = %.3g x max |session|, bit for bit %v", c.Name(), o.Tap, e, bits)
				if e > 1e-6 || !bits {
					t.Errorf("tap %q: eager differs from the session by %.3g x max |session| (bit for bit %v), want bit for bit", o.Tap, e, bits)
				}
			}
		})
	}
}
