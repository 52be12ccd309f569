// Package tfrecord reads and writes TFRecord files, the framing TensorFlow
// uses for tf.train.Example data sets and TensorBoard event files: per
// record a little-endian uint64 length, its masked crc32c, the data, and
// the data's masked crc32c. Every checksum is verified on read.
package tfrecord
