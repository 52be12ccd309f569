// Package native is graft's pure-Go TensorFlow executor: it runs a flattened
// savedmodel.Graph (functions inlined, variables frozen to constants) on the
// host, without libtensorflow.
//
// It owns the executor (Engine: op validation up front, node-by-node
// evaluation, freeing intermediates as soon as their last consumer ran),
// static shape inference (InferShapes) and the op kernels: the NHWC
// convolution, pooling, normalisation, activation, broadcasting arithmetic,
// reduction and shape-arithmetic ops that Keras CNN backbones use.
//
// Kernels never modify their inputs: constants and aliasing ops (Identity,
// Reshape, Squeeze, ...) share storage. Floating-point ops compute in
// float32; int32/int64 serve shape arithmetic. Work is parallelised inside
// ops (GEMM through internal/util/gemm, im2col, depthwise convolution, pooling,
// elementwise and copy loops across GOMAXPROCS workers), so one batch uses
// every core. An Engine is immutable after New and safe for concurrent Run
// calls.
//
// It does not read SavedModels (backbone/savedmodel does) and knows nothing
// about heads or jobs.
package native
