package engine

import (
	"errors"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tf"
)

const fashionCNN = "../../testdata/models/fashion_cnn"

func TestCheck(t *testing.T) {
	for _, name := range []string{"", Native, TensorFlow} {
		if err := Check(name); err != nil {
			t.Errorf("Check(%q) = %v", name, err)
		}
	}
	for _, name := range []string{"tf", "Native", "onnx"} {
		if err := Check(name); !errors.Is(err, ErrUnknown) {
			t.Errorf("Check(%q) = %v, want ErrUnknown", name, err)
		}
	}
}

func TestOpenUnknownEngine(t *testing.T) {
	b, err := Open("onnx", fashionCNN, Options{})
	if !errors.Is(err, ErrUnknown) || b != nil {
		t.Fatalf("Open(onnx) = %v, %v; want ErrUnknown", b, err)
	}
}

func TestOpenNative(t *testing.T) {
	for _, name := range []string{"", Native} {
		b, err := Open(name, fashionCNN, Options{Options: native.Options{Tap: "conv2d_2"}})
		if err != nil {
			t.Fatalf("Open(%q): %v", name, err)
		}
		if _, ok := b.(*native.Backbone); !ok {
			t.Errorf("Open(%q) is a %T, want *native.Backbone", name, b)
		}
		if s := b.Tap().Shape; len(s) != 4 || s[0] != -1 {
			t.Errorf("tap shape %v, want [-1 H W C]", s)
		}
		b.Close()
	}
}

func TestOpenTensorFlowWithoutIt(t *testing.T) {
	if tf.Available {
		t.Skip("built with -tags tensorflow")
	}
	b, err := Open(TensorFlow, fashionCNN, Options{Options: native.Options{Tap: "conv2d_2"}})
	if !errors.Is(err, tf.ErrNoTensorFlow) || b != nil {
		t.Fatalf("Open(tensorflow) = %v, %v; want ErrNoTensorFlow", b, err)
	}
}
