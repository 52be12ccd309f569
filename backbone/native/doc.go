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
// New also rewrites the graph once for speed (fuse.go): nodes whose inputs
// are all constant are evaluated at load, and each convolution with a
// constant filter absorbs the per-channel ops that only it feeds (batch
// norm, as FusedBatchNorm or as Keras 3's Mul/Add arithmetic, bias, scale),
// a residual add and its activation (Relu, Relu6, sigmoid, swish) into one
// node whose filter is scaled, packed for the GEMM once, and whose epilogue
// (bias, residual, ReLU/ReLU6) the GEMM applies as it stores each tile; a
// sigmoid or swish runs on each block while it is in cache. A 3x3 stride-1
// convolution runs as Winograd F(2x2,3x3) where an image has enough tiles
// (winograd.go; GRAFT_NATIVE_WINOGRAD=0 turns it off). A tensor that is
// fetched or read elsewhere is never absorbed, so every tap stays
// observable; results move by float32 rounding only. A squeeze-and-
// excitation block (the mean over H and W, two 1x1 convolutions on it, the
// scale) becomes one node, folded into the pointwise convolution that alone
// reads it where there is one (se.go), and chains of per-channel constant
// arithmetic one x*scale+bias pass (affine.go).
//
// Kernels never modify their inputs, but for the squeeze-and-excitation
// scale, written over a fused convolution's output that nothing else reads
// (node.inPlace, a view for the memory planner): constants and aliasing
// ops (Identity, Reshape, Squeeze, ...) share storage. Floating-point ops compute in
// float32; int32/int64 serve shape arithmetic. Work is parallelised inside
// ops (GEMM through internal/util/gemm, im2col, depthwise convolution, pooling,
// elementwise and copy loops across GOMAXPROCS workers), so one batch uses
// every core. An Engine is immutable after New and safe for concurrent Run
// calls.
//
// Memory plans read two figures before any image is decoded: WorkingSet,
// the arena's buffers for a batch (in proportion to it), and Fixed, what
// the backbone holds whatever the batch (the graph's constants, the
// engine's packed and transformed copies, the workers' pooled scratch;
// each kernel reports its own through kernel.memory).
//
// It does not read SavedModels (backbone/savedmodel does) and knows nothing
// about heads or jobs.
package native
