// Package images turns image files into backbone inputs: it decodes PNG and
// JPEG (gray or colour), resizes to the backbone's input size (bilinear,
// antialiased when shrinking, as TensorFlow's resize with antialias=True),
// converts between gray and RGB, and applies the Keras applications'
// preprocessing modes (raw, unit, tf, torch, caffe).
package images
