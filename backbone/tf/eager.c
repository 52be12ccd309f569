//go:build tensorflow

// The eager path (eager.go): the flat graph becomes a function of an eager
// context, which runs it on a device and hands back the result's handle,
// so that a GPU's output stays in device memory. Every TensorFlow call
// here goes through the trampolines of libtf_fns.h like the bindings'.

#include <stdlib.h>
#include <string.h>

#include "eager.h"

// Declared in tensorflow/c/eager/c_api_experimental.h, a header that is
// C++ in places (default member values, references), so not included.
extern void *TFE_TensorHandleDevicePointer(TFE_TensorHandle *, TF_Status *);
extern size_t TFE_TensorHandleDeviceMemorySize(TFE_TensorHandle *, TF_Status *);

// fail returns what went wrong as a message the caller frees.
static char *fail(const char *what, TF_Status *s) {
	const char *m = s != NULL ? TF_Message(s) : "";
	size_t n = strlen(what) + strlen(m) + 3;
	char *e = malloc(n);
	if (e != NULL) {
		strcpy(e, what);
		if (*m != 0) {
			strcat(e, ": ");
			strcat(e, m);
		}
	}
	return e;
}

char *graft_eager_open(const void *cfg, size_t ncfg, const void *def, size_t ndef,
	const char *in_op, int in_idx, const char *out_op, int out_idx,
	const char *fn, TFE_Context **ctx) {
	char *err = NULL;
	TF_Status *s = TF_NewStatus();
	TF_Graph *g = TF_NewGraph();
	TF_Buffer *buf = TF_NewBuffer();
	TF_ImportGraphDefOptions *io = TF_NewImportGraphDefOptions();
	TF_Function *f = NULL;
	TFE_ContextOptions *opts = NULL;
	TFE_Context *c = NULL;
	*ctx = NULL;

	// The buffer borrows the caller's bytes (no deallocator).
	buf->data = def;
	buf->length = ndef;
	TF_GraphImportGraphDef(g, buf, io, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("import the flat graph", s);
		goto out;
	}
	TF_Operation *in = TF_GraphOperationByName(g, in_op), *o = TF_GraphOperationByName(g, out_op);
	if (in == NULL || o == NULL) {
		err = fail(in == NULL ? "the imported graph has no input node" : "the imported graph has no output node", NULL);
		goto out;
	}
	TF_Output ins = {in, in_idx}, outs = {o, out_idx};
	// Every node but the input (num_opers -1), which becomes the
	// function's argument.
	f = TF_GraphToFunction(g, fn, 0, -1, NULL, 1, &ins, 1, &outs, NULL, NULL, "graft: a backbone cut at its tap", s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("turn the flat graph into a function", s);
		goto out;
	}
	opts = TFE_NewContextOptions();
	TFE_ContextOptionsSetConfig(opts, cfg, ncfg, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("context config", s);
		goto out;
	}
	TFE_ContextOptionsSetAsync(opts, 0);
	// The batch is fed from the host: copy it to the op's device.
	TFE_ContextOptionsSetDevicePlacementPolicy(opts, TFE_DEVICE_PLACEMENT_SILENT);
	c = TFE_NewContext(opts, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("new eager context", s);
		c = NULL;
		goto out;
	}
	TFE_ContextAddFunction(c, f, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("add the function to the context", s);
		TFE_DeleteContext(c);
		c = NULL;
		goto out;
	}
	*ctx = c;
out:
	if (opts != NULL) TFE_DeleteContextOptions(opts);
	if (f != NULL) TF_DeleteFunction(f);
	TF_DeleteImportGraphDefOptions(io);
	TF_DeleteBuffer(buf);
	TF_DeleteGraph(g);
	TF_DeleteStatus(s);
	return err;
}

char *graft_eager_devices(TFE_Context *ctx, char **names) {
	TF_Status *s = TF_NewStatus();
	*names = NULL;
	TF_DeviceList *l = TFE_ContextListDevices(ctx, s);
	if (TF_GetCode(s) != TF_OK) {
		char *err = fail("list devices", s);
		TF_DeleteStatus(s);
		return err;
	}
	int n = TF_DeviceListCount(l);
	size_t len = 1;
	for (int i = 0; i < n; i++) len += strlen(TF_DeviceListName(l, i, s)) + 1;
	char *all = calloc(len, 1);
	for (int i = 0; all != NULL && i < n; i++) {
		strcat(all, TF_DeviceListName(l, i, s));
		strcat(all, "\n");
	}
	*names = all;
	TF_DeleteDeviceList(l);
	TF_DeleteStatus(s);
	return NULL;
}

char *graft_eager_run(TFE_Context *ctx, const char *fn, const char *device,
	int dtype, const int64_t *dims, int ndims, const void *data, size_t n,
	TFE_TensorHandle **out) {
	char *err = NULL;
	TF_Status *s = TF_NewStatus();
	TFE_TensorHandle *h = NULL;
	TFE_Op *op = NULL;
	*out = NULL;

	TF_Tensor *t = TF_AllocateTensor((TF_DataType)dtype, dims, ndims, n);
	if (t == NULL) {
		err = fail("allocate the input tensor", NULL);
		goto done;
	}
	if (n > 0) memcpy(TF_TensorData(t), data, n);
	h = TFE_NewTensorHandle(t, s);
	TF_DeleteTensor(t); // the handle holds its own reference
	if (TF_GetCode(s) != TF_OK) {
		err = fail("input handle", s);
		h = NULL;
		goto done;
	}
	op = TFE_NewOp(ctx, fn, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("new op", s);
		op = NULL;
		goto done;
	}
	if (*device != 0) {
		TFE_OpSetDevice(op, device, s);
		if (TF_GetCode(s) != TF_OK) {
			err = fail("set the op's device", s);
			goto done;
		}
	}
	TFE_OpAddInput(op, h, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("add the input", s);
		goto done;
	}
	TFE_TensorHandle *ret[1] = {NULL};
	int nret = 1;
	TFE_Execute(op, ret, &nret, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("execute", s);
		goto done;
	}
	if (nret != 1) {
		for (int i = 0; i < nret; i++) TFE_DeleteTensorHandle(ret[i]);
		err = fail("execute: the function did not return one tensor", NULL);
		goto done;
	}
	*out = ret[0];
done:
	if (op != NULL) TFE_DeleteOp(op);
	if (h != NULL) TFE_DeleteTensorHandle(h);
	TF_DeleteStatus(s);
	return err;
}

char *graft_eager_describe(TFE_TensorHandle *h, graft_eager_out *o) {
	char *err = NULL;
	TF_Status *s = TF_NewStatus();
	memset(o, 0, sizeof *o);
	o->dtype = TFE_TensorHandleDataType(h);
	o->ndims = TFE_TensorHandleNumDims(h, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("rank", s);
		goto done;
	}
	if (o->ndims > GRAFT_EAGER_MAX_DIMS) {
		err = fail("the result has more than 8 dimensions", NULL);
		goto done;
	}
	for (int i = 0; i < o->ndims; i++) {
		o->dims[i] = TFE_TensorHandleDim(h, i, s);
		if (TF_GetCode(s) != TF_OK) {
			err = fail("dimension", s);
			goto done;
		}
	}
	o->device = TFE_TensorHandleDeviceName(h, s);
	if (TF_GetCode(s) == TF_OK) o->backing = TFE_TensorHandleBackingDeviceName(h, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("device name", s);
		goto done;
	}
	o->ptr = TFE_TensorHandleDevicePointer(h, s);
	if (TF_GetCode(s) == TF_OK) o->bytes = TFE_TensorHandleDeviceMemorySize(h, s);
	if (TF_GetCode(s) != TF_OK) err = fail("device pointer", s);
done:
	TF_DeleteStatus(s);
	return err;
}

char *graft_eager_resolve(TFE_TensorHandle *h, void *dst, size_t n) {
	char *err = NULL;
	TF_Status *s = TF_NewStatus();
	TF_Tensor *t = TFE_TensorHandleResolve(h, s);
	if (TF_GetCode(s) != TF_OK) {
		err = fail("copy the result to the host", s);
	} else if (TF_TensorByteSize(t) != n) {
		err = fail("the result's size changed", NULL);
	} else {
		memcpy(dst, TF_TensorData(t), n);
	}
	if (t != NULL) TF_DeleteTensor(t);
	TF_DeleteStatus(s);
	return err;
}

void graft_eager_release(TFE_TensorHandle *h) { TFE_DeleteTensorHandle(h); }

void graft_eager_close(TFE_Context *ctx, const char *fn) {
	TF_Status *s = TF_NewStatus();
	TFE_ContextRemoveFunction(ctx, fn, s);
	TF_DeleteStatus(s);
	TFE_DeleteContext(ctx);
}
