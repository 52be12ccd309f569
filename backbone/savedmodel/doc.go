// Package savedmodel reads and writes TensorFlow SavedModels in pure Go,
// without libtensorflow.
//
// It owns everything between the files on disk and a flat, executable
// dataflow graph:
//
//   - the SavedModel proto (saved_model.pb or saved_model.pbtxt), meta graph
//     selection by tag set, signature defs;
//   - TensorBundle checkpoints (variables/variables.index, an SSTable, and
//     its data shards), with checksum verification;
//   - binding variables (TF1 VariableV2, TF2 VarHandleOp) to checkpoint keys
//     by tracing the saver's restore graph;
//   - flattening: inlining function calls, turning restored variables into
//     Const nodes and pruning to the tensors asked for (Graph);
//   - tap resolution: finding an intermediate tensor by node name, inner
//     function name or Keras layer name;
//   - writing a SavedModel in the layout TensorFlow 2.15 / Keras writes.
//
// It does not execute graphs (backbone/native does) and knows nothing about
// heads or jobs.
package savedmodel
