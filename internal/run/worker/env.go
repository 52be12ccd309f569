package worker

import (
	"strings"

	"github.com/graft-ml/graft/backbone/tf"
)

// Env is what a daemon's worker inherits of the environment: what
// finding programs and libraries, locale, Go's runtime, threads and GPUs
// need. Nothing else (GRAFT_TOKEN above all) reaches it.
func Env(env []string) []string {
	keep := map[string]bool{"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "TMPDIR": true, "TZ": true, "LANG": true,
		"GOMAXPROCS": true, "GOGC": true, "GOMEMLIMIT": true, "GODEBUG": true, "LD_LIBRARY_PATH": true,
		"OMP_NUM_THREADS": true, "OPENBLAS_NUM_THREADS": true,
		// OpenBLAS's core type works around wrong results on some CPUs;
		// GRAFT_LIBTENSORFLOW says where the TensorFlow engine's library is.
		"OPENBLAS_CORETYPE": true, "OPENBLAS_L2_SIZE": true, tf.EnvLib: true}
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if keep[k] || strings.HasPrefix(k, "LC_") || strings.HasPrefix(k, "CUDA_") || strings.HasPrefix(k, "NVIDIA_") || strings.HasPrefix(k, "TF_") {
			out = append(out, kv)
		}
	}
	return out
}
