//go:build graftcuda

package cudainit

// #cgo LDFLAGS: -lcuda
// #include <cuda.h>
//
// static const char *errname(CUresult r) {
//	const char *s = 0;
//	if (cuGetErrorName(r, &s) != CUDA_SUCCESS || s == 0) return "CUDA_ERROR_UNKNOWN";
//	return s;
// }
// static const char *errstring(CUresult r) {
//	const char *s = 0;
//	if (cuGetErrorString(r, &s) != CUDA_SUCCESS || s == 0) return "unknown error";
//	return s;
// }
import "C"

import (
	"fmt"
	"os"
)

// ExitNoDevice is the exit status of a binary (test binaries included) on
// a host where the CUDA driver cannot be initialised or sees no GPU.
const ExitNoDevice = 3

func init() {
	reason := probe()
	if reason == "" {
		return
	}
	if testBinary() {
		fmt.Printf("SKIP: GPU tests did not run: %s\n", reason)
	}
	fmt.Fprintf(os.Stderr, "graft-cuda: no usable GPU: %s\n", reason)
	os.Exit(ExitNoDevice)
}

// probe initialises the driver and counts devices; it returns why CUDA is
// unusable, or "".
func probe() string {
	if r := C.cuInit(0); r != C.CUDA_SUCCESS {
		return fmt.Sprintf("cuInit: %s (%d): %s; this host needs an NVIDIA driver and GPU", C.GoString(C.errname(r)), int(r), C.GoString(C.errstring(r)))
	}
	var n C.int
	if r := C.cuDeviceGetCount(&n); r != C.CUDA_SUCCESS {
		return fmt.Sprintf("cuDeviceGetCount: %s (%d): %s", C.GoString(C.errname(r)), int(r), C.GoString(C.errstring(r)))
	}
	if n == 0 {
		return "the CUDA driver sees no GPU"
	}
	return ""
}

// testBinary reports whether this process is a Go test binary: its name
// ends in ".test" or it was given -test.* flags. (The testing package is
// not imported: gorgonia.org/cu does not import it, and importing it could
// let cu initialise first.)
func testBinary() bool {
	name := os.Args[0]
	if len(name) >= 5 && name[len(name)-5:] == ".test" {
		return true
	}
	for _, a := range os.Args[1:] {
		if len(a) > 6 && (a[:6] == "-test." || (len(a) > 7 && a[:7] == "--test.")) {
			return true
		}
	}
	return false
}
