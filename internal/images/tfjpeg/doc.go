// Package tfjpeg decodes JPEG exactly as TensorFlow's tf.io.decode_jpeg
// (and tf.io.decode_image) does with its default arguments, so that a head
// trained on graft's pixels is served the same pixels by an exported
// SavedModel's serving_bytes signature.
//
// TensorFlow decodes with libjpeg-turbo, and its default dct_method ("")
// selects JDCT_IFAST, not the accurate integer IDCT; fancy_upscaling is on.
// This package is written from the JPEG specification (ITU-T T.81) and the
// algorithms libjpeg documents, in pure Go:
//
//   - Huffman entropy decoding, baseline (SOF0), extended sequential 8-bit
//     (SOF1) and progressive (SOF2, spectral selection and successive
//     approximation), restart intervals, any integral sampling factors;
//   - dequantisation and the AAN "fast integer" IDCT in libjpeg's fixed
//     point (8 fraction bits, truncating shifts, the quantisation table
//     pre-scaled by the AAN factors to 2 fraction bits, the output wrapped
//     through libjpeg's range-limit table);
//   - "fancy" upsampling: the triangle filter for 2:1 horizontal (h2v1),
//     2:1 both ways (h2v2) and 2:1 vertical (h1v2) chroma, with libjpeg's
//     rounding biases, edge replication and its fallbacks (box replication
//     when the chroma is at most 2 samples wide, or for other ratios);
//   - libjpeg's YCbCr to RGB conversion in 16-bit fixed point, and its
//     colour-space guess (JFIF, the Adobe marker's transform, component ids).
//
// Refused with ErrUnsupported: arithmetic coding, lossless and hierarchical
// frames, 12-bit samples, and JPEGs of other than 1 or 3 components (CMYK
// and YCCK: the caller may fall back to another decoder).
package tfjpeg
