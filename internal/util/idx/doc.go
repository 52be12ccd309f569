// Package idx reads IDX files, the format of the MNIST and Fashion-MNIST
// data sets graft's fixtures, demo and end-to-end tests use.
package idx
