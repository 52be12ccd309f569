// Package crc32c computes the Castagnoli checksums TensorFlow writes into
// TFRecord files, TensorBundle shards and LevelDB-style tables, including
// the "masked" form TensorFlow stores so that checksumming data that itself
// holds checksums stays robust.
package crc32c
