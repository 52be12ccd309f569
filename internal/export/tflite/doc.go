// Package tflite writes a graph as a TensorFlow Lite flatbuffer (schema
// version 3, tensorflow/compiler/mlir/lite/schema/schema.fbs), in pure Go:
// the handful of tables graft needs are built by hand with the flatbuffers
// runtime (schema.go), and each TensorFlow op the native engine runs is
// mapped to TFLite builtin ops (ops.go) from what static inference knows
// of the graph (native.Static: shapes with -1 for the batch, folded
// constants). Float16 weights (Options.Float16) follow TFLite's float16
// post-training scheme: FLOAT16 buffers with a DEQUANTIZE op in front.
package tflite
