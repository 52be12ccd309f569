// Package inspect describes a SavedModel for `graft inspect` and the
// daemon's /v1/backbones:inspect: signatures, TensorFlow version,
// variables, the op histogram, the ops the native engine lacks, the
// normalisation the graph applies to its image input (and so the
// preprocessing --preprocess auto picks), the taps it suggests for a head
// and, on request, the signature's tensors with their static shapes, each
// marked tappable or not and named with the layer name --tap accepts.
package inspect
