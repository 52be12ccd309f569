// Package tensor holds the host-side tensor value that the SavedModel reader
// produces (constants, restored variables) and the native engine computes
// with: a TensorFlow dtype, a shape and one typed backing slice.
//
// It owns no math beyond size and shape bookkeeping; ops live in
// backbone/native.
package tensor
