// Package dataset reads users' labelled images for fine-tuning: an image
// folder (one sub-folder per class), a CSV manifest (path,label) or
// TFRecord files of tf.train.Example records. It owns the class map, the
// validation of what users hand in (empty or one-class data, unknown
// labels, missing or corrupt files, class names that are not UTF-8), the
// class-imbalance report, content digests (the feature cache's key) and
// the duplicate report, the seeded stratified train/validation split that
// keeps identical images on one side, and the parallel decoding of the
// encoded images (through internal/data/images, an image over the data set's
// MaxPixels a bad file) into one contiguous float32 batch [N,H,W,C] with
// a content digest per sample and a report of the bad files.
//
// Opening a data set reads only names, labels and (for TFRecord) record
// positions; the image bytes are read again when they are decoded, so a
// data set larger than memory can be decoded in slices (Dataset.Slice).
//
// tf.train.Example has no generated Go type in the dependencies; it is
// encoded and decoded here with protowire (EncodeExample, DecodeExample).
package dataset
