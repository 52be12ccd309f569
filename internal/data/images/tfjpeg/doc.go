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
//     colour-space guess (JFIF, the Adobe marker's transform, component ids);
//     4 components (CMYK, or YCCK through libjpeg's conversion to CMYK)
//     to RGB as TensorFlow's own code converts them;
//   - as TensorFlow: a file cut before EOI is refused; corrupt entropy-coded
//     data ends the segment's decoding as libjpeg does (the rest of the
//     segment left as it is).
//
// Refused with ErrUnsupported: arithmetic coding, lossless and hierarchical
// frames, 12-bit samples, 2 components, and (DecodeGray) CMYK.
//
// Not reproduced: libjpeg's block smoothing, which estimates the missing
// low-frequency coefficients of a progressive JPEG whose scans stop before
// they are complete (an encoder that leaves refinement scans out, a file
// cut between scans; Rows.Smoothed reports it: up to 116 levels apart with
// only DC scans), and its resynchronisation on corrupt entropy-coded data.
// The 2:1 vertical (h1v2) filter and box replication for other ratios are
// checked by hand-worked tests only: neither TensorFlow's nor Pillow's
// encoder writes those samplings.
package tfjpeg
