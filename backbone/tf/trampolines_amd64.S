//go:build tensorflow

// One entry point per TensorFlow C API function the Go bindings call, each
// a jump through the pointer libtf.c resolved with dlsym. The arguments
// stay in their registers and on the stack untouched, so one trampoline
// fits every signature. Linking these instead of libtensorflow keeps it out
// of the binary's DT_NEEDED: graft starts without it and says how to
// install it when the TensorFlow engine is asked for (load.go).

#define GRAFT_TF_FN(n) \
	.globl n; .type n, @function; n: jmp *graft_tf_ptr_##n(%rip); .size n, .-n;

.text
#include "libtf_fns.h"

.section .note.GNU-stack,"",@progbits
