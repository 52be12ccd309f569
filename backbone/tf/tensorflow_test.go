//go:build tensorflow

package tf

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
)

// The engine against the native one, on the real libtensorflow (make
// test-tf).

// fashionBatch is n deterministic 28x28 grey images in [0, 1].
func fashionBatch(n int) *tensor.Tensor {
	x := tensor.New(tensor.Float32, n, 28, 28, 1)
	for i := range x.F32 {
		x.F32[i] = float32((i*7919)%251) / 250
	}
	return x
}

func TestFeaturesMatchNative(t *testing.T) {
	for _, dev := range []string{"cpu", "auto"} {
		for _, o := range []native.Options{{Tap: "conv2d_2"}, {}} { // a tap inside the Keras function; the signature output
			nb, err := native.Open(fashionCNN, o)
			if err != nil {
				t.Fatal(err)
			}
			tb, err := Open(fashionCNN, Options{Options: o, Device: dev, GPUMemoryFraction: 0.2})
			if err != nil {
				t.Fatalf("%s %+v: %v", dev, o, err)
			}
			if !reflect.DeepEqual(tb.Input(), nb.Input()) || !reflect.DeepEqual(tb.Tap(), nb.Tap()) {
				t.Errorf("%s %+v: TensorFlow input %v tap %v, native %v %v", dev, o, tb.Input(), tb.Tap(), nb.Input(), nb.Tap())
			}
			for _, n := range []int{1, 5} {
				x := fashionBatch(n)
				want, err := nb.Features(context.Background(), x)
				if err != nil {
					t.Fatal(err)
				}
				got, err := tb.Features(context.Background(), x)
				if err != nil {
					t.Fatalf("%s %+v: %v", dev, o, err)
				}
				within(t, dev+" "+tb.Tap().Name, got, want)
			}
			if err := tb.Close(); err != nil {
				t.Error(err)
			}
		}
	}
}

// TestFlatGraphMatchesTensorFlowsOwnLoad checks the flattening itself:
// the flat graph in TensorFlow against TensorFlow running the SavedModel
// as it loads it (functions, variables, restore).
func TestFlatGraphMatchesTensorFlowsOwnLoad(t *testing.T) {
	o := Options{Device: "cpu"}
	tb, err := Open(fashionCNN, o)
	if err != nil {
		t.Fatal(err)
	}
	defer tb.Close()
	x := fashionBatch(4)
	want, err := RunSignature(fashionCNN, o, x)
	if err != nil {
		t.Fatal(err)
	}
	got, err := tb.Features(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "signature output", got, want)
	if _, err := RunSignature(fashionCNN, Options{Options: native.Options{Tap: "conv2d_2"}}, x); !errors.Is(err, ErrOptions) {
		t.Errorf("RunSignature with a tap: %v, want ErrOptions", err)
	}
}

func TestErrorsNotPanics(t *testing.T) {
	tb, err := Open(fashionCNN, Options{Options: native.Options{Tap: "conv2d_2"}, Device: "cpu"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Features(context.Background(), tensor.New(tensor.Float32, 2, 27, 28, 1)); err == nil {
		t.Error("a batch of the wrong shape: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := tb.Features(ctx, fashionBatch(1)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Features(context.Background(), fashionBatch(1)); !errors.Is(err, errClosed) {
		t.Errorf("after Close: %v", err)
	}
	if err := tb.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := Open(fashionCNN, Options{Options: native.Options{Tap: "no_such_layer"}}); err == nil {
		t.Error("unknown tap: no error")
	}
	if _, err := Open(fashionCNN, Options{Device: "tpu"}); !errors.Is(err, ErrOptions) {
		t.Errorf("device tpu: %v", err)
	}
	// guard turns a panic of the Go API into an error.
	if err := guard("test", func() error { var o *native.Options; _ = o.Tap; return nil }); err == nil {
		t.Error("guard let a panic through")
	}
}
