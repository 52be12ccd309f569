//go:build tensorflow

// The run-time link to libtensorflow: dlopen, then one dlsym per function
// in libtf_fns.h into the pointers the trampolines jump through.

#include <dlfcn.h>
#include <stddef.h>

#define GRAFT_TF_FN(n) __attribute__((visibility("hidden"))) void *graft_tf_ptr_##n;
#include "libtf_fns.h"
#undef GRAFT_TF_FN

// graft_tf_open loads the library at path (RTLD_GLOBAL: its kernels and
// the framework library it needs resolve against each other) and resolves
// every function, all or none. It returns NULL on success, else what went
// wrong.
const char *graft_tf_open(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
	if (h == NULL) {
		const char *e = dlerror();
		return e != NULL ? e : "dlopen failed";
	}
#define GRAFT_TF_FN(n) \
	if (dlsym(h, #n) == NULL) { dlclose(h); return "it has no function " #n " (a TensorFlow C API older than the Go bindings need)"; }
#include "libtf_fns.h"
#undef GRAFT_TF_FN
#define GRAFT_TF_FN(n) graft_tf_ptr_##n = dlsym(h, #n);
#include "libtf_fns.h"
#undef GRAFT_TF_FN
	return NULL;
}
