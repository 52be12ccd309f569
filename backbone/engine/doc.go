// Package engine picks the engine that runs a backbone: the pure-Go native
// engine (the default, everywhere) or TensorFlow through libtensorflow
// (binaries built with -tags tensorflow; others return
// tf.ErrNoTensorFlow). Both run the same flattened graph and give the same
// features, so nothing downstream (feature caches included) depends on
// the choice.
package engine
