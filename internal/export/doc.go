// Package export writes a trained run as one SavedModel that TensorFlow
// loads and serves: the backbone's graph cut at the run's tap (its weights
// as variables, exactly as read), the run's preprocessing in front of it
// and the trained head on top, as TensorFlow ops, with a serving_default
// signature (images in 0..255 -> probabilities, classes) and an
// encoded-image signature (a batch of PNG/JPEG files, decoded and resized
// in the graph by a While loop). It is the logic behind `graft export`.
//
// With FormatONNX it writes the same model as one ONNX file instead
// (onnx*.go): opset 17, NCHW from one input Transpose on, every native
// op mapped or folded into constants (native.StaticValues), the protobuf
// encoded by hand with protowire.
//
// It writes with backbone/savedmodel's writer (a temporary folder renamed
// into place) and knows nothing about the daemon.
package export
