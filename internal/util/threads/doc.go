// Package threads decides how many threads a graft process computes on:
// the --threads flag or a job's threads when given, else the CPUs the
// container may use (its cgroup CPU quota, not the host's cores), and
// sets GOMAXPROCS to it, which every pool of graft's follows (the native
// engine's kernels, the head's kernels, image decoding); the TensorFlow
// engine is given the same number for its intra- and inter-op pools.
package threads
