//go:build graftcuda

// Package cudainit initialises the CUDA driver before gorgonia.org/cu does,
// so that a host without a driver or GPU gets a clear message instead of
// gorgonia/cu's bare os.Exit(1) from its package init.
//
// Go initialises packages in import-path order among those whose imports
// are initialised (the spec's rule since Go 1.21). This package imports
// only packages that gorgonia.org/cu imports too, and its path sorts before
// "gorgonia.org/cu", so its init always runs first. When cuInit fails it
// exits the process itself with status 3 after saying why: on stderr, and
// in a test binary also with a "SKIP: GPU tests did not run" line on
// stdout. A test binary that could not test exits non-zero, never with
// PASS: no GPU must not read as green.
package cudainit
