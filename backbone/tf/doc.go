// Package tf is graft's second backbone engine: it runs the same flat graph
// as the native engine through libtensorflow (the TensorFlow C library, via
// the Go bindings that github.com/galeone/tfgo builds on).
//
// Graph surgery is shared, not repeated: Open loads the SavedModel, resolves
// the tap and flattens the graph with backbone/native.Prepare (functions
// inlined, variables frozen to Const nodes, pruned to the tap), serialises
// that graph as a GraphDef and imports it into a TensorFlow graph, which a
// session runs. The tap's static shape comes from the native engine's shape
// functions (backbone/native.InferShapes), so both engines report the same
// one; TensorFlow's own shape inference is the fallback for ops the native
// engine does not implement.
//
// The session is configured so that TensorFlow does not take every GPU's
// memory: allow_growth is always set, per_process_gpu_memory_fraction caps it
// on request, and the device is chosen with device_count (CPU only) or
// visible_device_list (one GPU) plus the graph's default device, with soft
// placement for ops that have no GPU kernel. Panics in the TensorFlow Go API
// and in tfgo are recovered and returned as errors.
//
// OpenEager runs the same flat graph through TensorFlow's eager C API
// instead (eager.go, eager.c): the graph becomes a function of an eager
// context and each batch's result stays where it was computed, a
// DeviceTensor with its device pointer; ToDevice hands it to the CUDA head
// device to device (docs/tensorflow-gpu.md). On the CPU it gives the bits of
// a session without Grappler (Options.NoGrappler).
//
// The engine needs cgo and TensorFlow's C API (tested with 2.21, the C API
// in the pinned pip wheel), so it is built only with -tags tensorflow
// (make build-tf). It compiles against the C headers but does not link the
// library: the binding functions it calls resolve to trampolines
// (trampolines_amd64.S) that jump through pointers Load fills with dlsym
// (libtf.c, load.go), and an empty linker script (ldstub/) answers the
// bindings' -ltensorflow. So a tagged binary starts without libtensorflow,
// and Open says how to install one when it cannot load it. Load looks in
// $GRAFT_LIBTENSORFLOW only when set, else in LibDir (stamped in by the
// Makefile, as an rpath would be), then the loader's search path.
//
// Without the tag the package keeps the same exported API and Open returns
// ErrNoTensorFlow.
package tf
