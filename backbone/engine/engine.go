package engine

import (
	"errors"
	"fmt"
	"strings"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tf"
)

// The engines.
const (
	Native     = "native"
	TensorFlow = "tensorflow"
)

// Names lists the engines, the default first.
var Names = []string{Native, TensorFlow}

// ErrUnknown reports an engine name that is none of Names.
var ErrUnknown = errors.New("engine: unknown backbone engine")

// Options choose what of a SavedModel a backbone runs, and where.
type Options struct {
	// Options selects the graph: tags, signature, tap or output.
	native.Options
	// Device places the TensorFlow engine: cpu, cuda, cuda:N, or "" /
	// auto for TensorFlow's choice. The native engine runs on the CPU.
	Device string
	// GPUMemoryFraction caps the GPU memory the TensorFlow engine takes
	// (0: no cap; it grows as needed either way).
	GPUMemoryFraction float64
	// Threads bounds the TensorFlow engine's threads per op (intra-op)
	// and its ops run at once (inter-op); 0 is its default, one per core. The native engine follows
	// GOMAXPROCS instead.
	Threads int
	// Eager runs the TensorFlow engine through its eager API
	// (tf.OpenEager): its features stay where they were computed, for a
	// GPU head to take device to device. The native engine ignores it.
	Eager bool
}

// Check returns nil for a known engine name ("" is the native engine).
func Check(name string) error {
	switch name {
	case "", Native, TensorFlow:
		return nil
	}
	return fmt.Errorf("%w %q: use %s", ErrUnknown, name, strings.Join(Names, " or "))
}

// Open opens the SavedModel in dir on the named engine ("" is native).
func Open(name, dir string, o Options) (backbone.Backbone, error) {
	if err := Check(name); err != nil {
		return nil, err
	}
	if name == TensorFlow {
		to := tf.Options{Options: o.Options, Device: o.Device, GPUMemoryFraction: o.GPUMemoryFraction, Threads: o.Threads}
		if o.Eager {
			b, err := tf.OpenEager(dir, to)
			if err != nil {
				return nil, err
			}
			return b, nil
		}
		b, err := tf.Open(dir, to)
		if err != nil {
			return nil, err
		}
		return b, nil
	}
	b, err := native.Open(dir, o.Options)
	if err != nil {
		return nil, err
	}
	return b, nil
}
