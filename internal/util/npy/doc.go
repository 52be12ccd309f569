// Package npy writes NumPy's .npy format (version 1.0, little-endian,
// C order): how a sweep hands its features to a Python peer that trains
// on the very same arrays.
package npy
