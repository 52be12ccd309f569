// Package zoo reads graft's zoo of TensorFlow-written architectures for
// parity tests: Keras Applications models that scripts/zoo/gen.py (`make
// zoo`) builds with seeded random weights and writes as SavedModels (Keras
// 3 export, tf-keras save, TF1 graph with variables and frozen), each with
// an input batch and TensorFlow's own outputs at the signature output and at
// named taps. The zoo is generated, never committed; tests that need it
// skip, naming `make zoo`, when it is absent.
//
// The oracle is TensorFlow's stored output: an engine passes when
// max |ours - TF| <= Tolerance(model, engine) * max |TF|.
package zoo
