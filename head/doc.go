// Package head owns the trainable network graft grafts onto a frozen
// backbone: its spec, parameter layout, Keras-style initialisation, the
// fused softmax cross-entropy loss, the optimizers (Adam, AdamW, SGD with
// momentum) and the checkpoint format.
//
// The head of the seed document is, in NHWC float32,
//
//	features [B,H,W,C] -> Conv2D kxk same + bias + ReLU -> global average pool
//	                   -> Dense -> softmax cross-entropy
//
// or, as a linear probe, features -> global average pool -> Dense.
//
// Compute goes through Ops, the device-neutral seam: the trainer is written
// once against it, CPUOps is the fallback and the reference, and the CUDA
// implementation lives in gpu/ (its driver calls behind the graftcuda build tag). All training
// state sits in one flat parameter buffer per device so that one optimizer
// kernel updates every parameter. The backward pass never computes a
// gradient with respect to the features: the backbone is frozen.
//
// On the CPU the convolution keeps its activations position-major and runs
// as GEMMs (conv.go): tap by tap without im2col on wide features, where
// clipping the taps at the border skips the zero padding's products, and
// as one im2col GEMM on narrow ones. The elementwise loops (Adam, ReLU)
// have AVX twins that give the same bits (vec_amd64.s).
package head
