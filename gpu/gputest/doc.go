// Package gputest is an in-memory CUDA driver for tests: gpu.Driver
// implemented without a GPU, so that gpu's logic (pool, budget, error
// mapping, argument packing, the head's launch sequence, streams and
// events) and everything that opens gpu.CUDAOps are tested on every
// machine.
//
// Fake is one GPU: device memory is host memory; kernels are not run, but
// every launch is checked against its signature in kernels/head.cu and
// against the extents its arguments must cover (extents.go), and every
// use of streams, events and pinned memory against CUDA's ordering rules
// (order.go). It refuses what a real driver (or compute-sanitizer) would.
// Machine is a host of several Fakes, cuda:0 first, with canned hosts
// (OneA100, TwoH100s) reporting what `graft-cuda devices` reports for
// them.
//
// No production binary links this package; .ci/run checks it.
package gputest
