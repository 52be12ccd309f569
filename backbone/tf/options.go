package tf

import (
	"errors"
	"fmt"
	"strconv"

	cpb "github.com/galeone/tensorflow/tensorflow/go/core/protobuf/for_core_protos_go_proto"
	"google.golang.org/protobuf/proto"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/native"
)

// ErrNoTensorFlow is what the engine returns in a binary built without it.
var ErrNoTensorFlow = errors.New("tf: this binary has no TensorFlow engine: build one with `make tf-deps build-tf` (README, TensorFlow engine), or use --engine native")

// ErrOptions reports unusable engine options.
var ErrOptions = errors.New("tf: invalid options")

// Options choose what of a SavedModel a Backbone runs, and where.
type Options struct {
	// Options selects the graph: tags, signature, tap or output, exactly
	// as for the native engine.
	native.Options
	// Device is graft's device name: "" or "auto" leaves placement to
	// TensorFlow (its first GPU when it sees one), "cpu" hides every GPU,
	// "cuda" is GPU 0 and "cuda:N" GPU N. Ops without a GPU kernel fall
	// back to the CPU (soft placement).
	Device string
	// GPUMemoryFraction caps the GPU memory TensorFlow may take, as a
	// fraction of the device's (per_process_gpu_memory_fraction, in
	// (0, 1]); 0 sets no cap. Either way TensorFlow allocates as it goes
	// (allow_growth), never the whole device up front.
	GPUMemoryFraction float64
	// Threads bounds the threads one op may use (intra-op parallelism)
	// and the ops run at once (inter-op), so that a comparison with the
	// native engine on N threads is fair; 0 is TensorFlow's default, one
	// per core for each.
	Threads int
	// NoGrappler turns TensorFlow's graph optimizer off for a session.
	// The eager path (OpenEager) runs the function without it: a session
	// with it off computes the same bits, one with it on (the default)
	// differs by its fusions' rounding (up to 3.5e-5 of the largest value on
	// the zoo, docs/tensorflow-gpu.md).
	NoGrappler bool
}

// session is the serialised ConfigProto a session is created with and
// the default device the graph is imported onto ("" for TensorFlow's
// choice).
type session struct {
	config []byte
	device string
}

// sessionConfig translates o into a ConfigProto. It needs no
// libtensorflow, so untagged tests check it.
func sessionConfig(o Options) (session, error) {
	if f := o.GPUMemoryFraction; !(f >= 0 && f <= 1) {
		return session{}, fmt.Errorf("%w: GPU memory fraction %g is not in [0, 1]", ErrOptions, f)
	}
	if o.Threads < 0 {
		return session{}, fmt.Errorf("%w: %d threads", ErrOptions, o.Threads)
	}
	cfg := &cpb.ConfigProto{
		GpuOptions: &cpb.GPUOptions{
			AllowGrowth:                 true,
			PerProcessGpuMemoryFraction: o.GPUMemoryFraction,
		},
		AllowSoftPlacement:        true,
		IntraOpParallelismThreads: int32(o.Threads),
		InterOpParallelismThreads: int32(o.Threads),
	}
	if o.NoGrappler {
		cfg.GraphOptions = &cpb.GraphOptions{RewriteOptions: &cpb.RewriterConfig{DisableMetaOptimizer: true}}
	}
	var dev string
	d := api.Device{Kind: api.Auto}
	if o.Device != "" {
		var err error
		if d, err = api.ParseDevice(o.Device); err != nil {
			return session{}, fmt.Errorf("%w: %v", ErrOptions, err)
		}
	}
	switch {
	case d.Kind == api.CPU:
		cfg.DeviceCount = map[string]int32{"GPU": 0}
		dev = "/device:CPU:0"
	case d.IsCUDA():
		if o.Device != "cuda" { // cuda alone: TensorFlow's first GPU
			// TensorFlow numbers the visible GPUs from 0: GPU N is /GPU:0.
			cfg.GpuOptions.VisibleDeviceList = strconv.Itoa(d.Index)
		}
		dev = "/device:GPU:0"
	}
	b, err := proto.Marshal(cfg)
	if err != nil {
		return session{}, fmt.Errorf("tf: session config: %w", err)
	}
	return session{config: b, device: dev}, nil
}

// EnvLib names the variable that points the engine at one libtensorflow
// file (libtensorflow_cc.so.2 of a pip wheel, or libtensorflow.so.2 of
// TensorFlow's C library) instead of its usual search.
const EnvLib = "GRAFT_LIBTENSORFLOW"

// ErrNoLibTensorFlow reports a binary with the TensorFlow engine that
// cannot load libtensorflow.
var ErrNoLibTensorFlow = errors.New("tf: cannot load libtensorflow")

// installHint says how to get a libtensorflow the engine can load.
const installHint = "Install TensorFlow 2.21's C library with `make tf-deps build-tf` " +
	"(the pip wheel in build/pyenv; this binary then finds it there), or " +
	"`pip install tensorflow-cpu==2.21.0` and set " + EnvLib + " to its tensorflow/libtensorflow_cc.so.2, " +
	"or put libtensorflow.so.2 on the loader's path (LD_LIBRARY_PATH); or use --engine native"
