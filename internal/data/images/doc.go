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
//
// JPEG is decoded by package tfjpeg, to the bytes tf.io.decode_jpeg gives
// with its defaults (libjpeg-turbo's fast integer IDCT, fancy upsampling,
// its YCbCr to RGB; for a 1-channel backbone the luma, as
// decode_jpeg(channels=1)), so that a head trained here is served the same
// pixels by an export's serving_bytes (docs/export.md). A CMYK JPEG for
// a 1-channel backbone is decoded to RGB and converted as a colour PNG
// is (TensorFlow refuses to decode it to gray).
package images
