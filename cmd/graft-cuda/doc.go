//go:build graftcuda

// Command graft-cuda is graft's GPU binary, the only one that links CUDA
// (gorgonia.org/cu): `graft-cuda devices` tells the daemon what GPUs a host
// has, and `graft-cuda bench head` times the CUDA head. It is built with
// -tags graftcuda (make graft-cuda). `graft-cuda train` and `graft-cuda worker`
// come with the trainer (issue 5's runtime part). On a host without a
// driver or GPU it exits with status 3 and says why before any command
// runs (gpu/internal/cudainit). These files only parse flags and wire
// packages together.
package main
