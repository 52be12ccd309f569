// Package images turns image files into backbone inputs: it decodes PNG and
// JPEG (gray or colour), resizes to the backbone's input size (bilinear,
// antialiased when shrinking, as TensorFlow's resize with antialias=True),
// converts between gray and RGB, and applies the Keras applications'
// preprocessing modes (raw, unit, tf, torch, caffe).
//
// FromBytes is the one decode path of graft (training and evaluation data,
// the daemon's predict, graft predict): it reads the header first and
// refuses an image over the caller's pixel limit (--max-image-pixels,
// DefaultMaxPixels) with ErrTooLarge before any pixel is decoded, and
// every decode of the process waits for its estimated memory within
// DecodeMemory, so parallel decodes cannot add up past it. Package bomb
// makes the lying files the tests use.
package images
