//go:build graftcuda

package gpu

/*
#cgo LDFLAGS: -lcuda
#include <cuda.h>

// graft_same_context: 0 when p was allocated in the current context (or
// by an allocator that records none), 1 when in another one, else -1
// with the driver's code in *res.
static int graft_same_context(CUdeviceptr p, int *res) {
	CUcontext cur = NULL, owner = NULL;
	CUresult r = cuCtxGetCurrent(&cur);
	if (r == CUDA_SUCCESS) r = cuPointerGetAttribute(&owner, CU_POINTER_ATTRIBUTE_CONTEXT, p);
	*res = (int)r;
	if (r != CUDA_SUCCESS) return -1;
	return owner == NULL || owner == cur ? 0 : 1;
}
*/
import "C"

import "fmt"

// sameContext checks, inside do, that device memory another library
// allocated (TensorFlow's output) lives in this context, the device's
// primary context: a pointer of another context would be read as garbage
// or fault. gorgonia.org/cu's PtrAttribute cannot return a context (it
// passes no storage), hence this call of its own.
func sameContext(p DevicePtr) error {
	var res C.int
	switch C.graft_same_context(C.CUdeviceptr(p), &res) {
	case 0:
		return nil
	case 1:
		return &DriverError{Err: fmt.Errorf("device pointer %#x belongs to another CUDA context than the device's primary context: "+
			"the library that allocated it (TensorFlow) must use the primary context, as TensorFlow's CUDA build does", uint64(p))}
	}
	return &DriverError{Err: fmt.Errorf("cuPointerGetAttribute(CONTEXT) of %#x: CUresult %d (not device memory?)", uint64(p), int(res))}
}
