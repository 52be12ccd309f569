// Command graft fine-tunes a trainable head on a frozen TensorFlow
// SavedModel. This file and its siblings only parse flags and wire
// packages together; the logic lives in the packages they call.
package main
