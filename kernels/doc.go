// Package kernels holds the head's CUDA C sources (*.cu, extern "C"), the
// rule that compiles them with nvcc into one fatbin (SASS for sm_80 and
// sm_90, PTX for compute_70 and compute_80), and the go:embed of that
// artefact for gpu/ to load. It contains no Go logic beyond embedding.
package kernels
