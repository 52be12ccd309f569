// The eager path's C half (eager.c), called from eager.go: a few steps of
// TensorFlow's eager C API that the Go bindings do not wrap.

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/c/c_api.h"
#include "tensorflow/c/eager/c_api.h"

#define GRAFT_EAGER_MAX_DIMS 8

// graft_eager_out describes one result handle: where its memory is (a
// device address, or a host address on the CPU) and what it holds. The
// strings belong to the handle.
typedef struct {
	void *ptr;
	size_t bytes;
	int dtype;
	int ndims;
	int64_t dims[GRAFT_EAGER_MAX_DIMS];
	const char *device;  // the device that computed it
	const char *backing; // the device whose memory holds it
} graft_eager_out;

// Each returns NULL on success, else a message the caller frees.
char *graft_eager_open(const void *cfg, size_t ncfg, const void *def, size_t ndef,
	const char *in_op, int in_idx, const char *out_op, int out_idx,
	const char *fn, TFE_Context **ctx);
char *graft_eager_devices(TFE_Context *ctx, char **names);
char *graft_eager_run(TFE_Context *ctx, const char *fn, const char *device,
	int dtype, const int64_t *dims, int ndims, const void *data, size_t n,
	TFE_TensorHandle **out);
char *graft_eager_describe(TFE_TensorHandle *h, graft_eager_out *o);
char *graft_eager_resolve(TFE_TensorHandle *h, void *dst, size_t n);
void graft_eager_release(TFE_TensorHandle *h);
void graft_eager_close(TFE_Context *ctx, const char *fn);
