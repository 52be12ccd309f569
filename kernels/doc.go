// Package kernels holds the head's CUDA C sources (head.cu, extern "C"),
// compiled by `make kernels` with nvcc into one fatbin (SASS for sm_80 and
// sm_90, PTX for compute_70 and compute_80 so that newer GPUs JIT), and,
// with the graftcuda build tag, the go:embed of that artefact for gpu/ to load.
// It contains no Go logic beyond embedding.
//
// head.fatbin is generated and not committed: `go build -tags graftcuda` and
// `go vet -tags graftcuda` need `make kernels` first (make graft-cuda and
// make vet-cuda run it). The untagged build never embeds it.
package kernels
