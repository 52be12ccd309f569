package gputest

import (
	"strings"

	"github.com/graft-ml/graft/gpu"
)

// fakeExtents is, for each kernel of head.cu, how many elements each
// pointer argument must hold given the scalar arguments (by parameter
// name) and the grid: what the kernel reads or writes, as gpu/ops.go
// launches it. The fake driver refuses a launch whose buffers are shorter,
// where a GPU would read or write out of bounds (compute-sanitizer's
// memcheck). A test checks the names against head.cu's signatures.
//
// samples(name, n) is 1 + the largest of the n sample indices the pointer
// argument name points at (the feature buffer must hold that many).
var fakeExtents = map[string]func(a map[string]int64, g gpu.Dim3, samples func(string, int64) int64) map[string]int64{
	"conv_fwd":        convFwdExtents,
	"conv_wgrad":      convWgradExtents,
	"conv_fwd_tf32":   convFwdExtents,
	"conv_fwd_bf16":   convFwdExtents,
	"conv_wgrad_tf32": convWgradExtents,
	"conv_wgrad_bf16": convWgradExtents,
	"splitk_reduce": func(a map[string]int64, _ gpu.Dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"ws": a["splits"] * a["m"] * a["n"], "bias": a["n"], "out": a["m"] * a["n"]}
	},
	"pool_rows": func(a map[string]int64, g gpu.Dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"x": int64(g.Y) * a["hw"] * a["width"], "pooled": int64(g.Y) * a["width"]}
	},
	"gather_pool": func(a map[string]int64, g gpu.Dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"idx": int64(g.Y), "feats": samples("idx", int64(g.Y)) * a["hw"] * a["width"],
			"pooled": int64(g.Y) * a["width"]}
	},
	"dense_fwd": func(a map[string]int64, _ gpu.Dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"pooled": a["batch"] * a["in"], "w": a["in"] * a["classes"], "bias": a["classes"],
			"logits": a["batch"] * a["classes"]}
	},
	"softmax_xent": func(a map[string]int64, _ gpu.Dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"logits": a["batch"] * a["classes"], "labels": a["batch"], "dlogits": a["batch"] * a["classes"],
			"loss": a["batch"], "correct": a["batch"]}
	},
	"dense_bwd": func(a map[string]int64, _ gpu.Dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"pooled": a["batch"] * a["in"], "dlogits": a["batch"] * a["classes"], "w": a["in"] * a["classes"],
			"dw": a["in"] * a["classes"], "db": a["classes"], "dpooled": a["batch"] * a["in"]}
	},
	"unpool_relu": func(a map[string]int64, g gpu.Dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"act": int64(g.Y) * a["hw"] * a["f"], "dpooled": int64(g.Y) * a["f"], "bsum": int64(g.Y) * a["f"]}
	},
	"sum_rows": func(a map[string]int64, _ gpu.Dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"x": a["n"] * a["width"], "out": a["width"]}
	},
	"optimizer_step": func(a map[string]int64, _ gpu.Dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"p": a["n"], "g": a["n"], "s0": a["n"], "s1": a["n"]}
	},
}

func convFwdExtents(a map[string]int64, g gpu.Dim3, samples func(string, int64) int64) map[string]int64 {
	layers := int64(g.Z)
	if a["epi"] != 0 {
		layers = 1
	}
	return map[string]int64{"idx": a["batch"], "feats": samples("idx", a["batch"]) * a["h"] * a["wd"] * a["c"],
		"w": a["k"] * a["k"] * a["c"] * a["f"], "bias": a["f"],
		"out": layers * a["batch"] * a["h"] * a["wd"] * a["f"]}
}

func convWgradExtents(a map[string]int64, g gpu.Dim3, samples func(string, int64) int64) map[string]int64 {
	return map[string]int64{"idx": a["batch"], "feats": samples("idx", a["batch"]) * a["h"] * a["wd"] * a["c"],
		"dz":  a["batch"] * a["h"] * a["wd"] * a["f"],
		"out": int64(g.Z) * a["k"] * a["k"] * a["c"] * a["f"]}
}

// tensorCorePreconditions is what head.cu's tensor-core kernels assume and
// do not check (a GPU would copy misaligned or mix filter taps in one K
// step): C a multiple of 16, F of 4, K slices of 16, 16-byte aligned
// buffers, and their fixed grid (128 x 128 tiles) covering the output.
func tensorCorePreconditions(name string, a map[string]int64, ptrs map[string]gpu.DevicePtr, g gpu.Dim3) error {
	if !strings.HasSuffix(name, "_tf32") && !strings.HasSuffix(name, "_bf16") {
		return nil
	}
	slice := a["kslice"] + a["mslice"]
	if a["c"]%16 != 0 || a["f"]%4 != 0 || slice%16 != 0 || slice <= 0 {
		return invalid("%s: c %d (a multiple of 16), f %d (of 4), K slice %d (of 16): the tensor-core kernels do not take this shape", name, a["c"], a["f"], slice)
	}
	for p, v := range ptrs {
		if v%16 != 0 && p != "bias" && p != "idx" {
			return invalid("%s: argument %s at %#x is not 16-byte aligned (cp.async copies 16 bytes)", name, p, uint64(v))
		}
	}
	rows := a["batch"] * a["h"] * a["wd"] // the forward's M
	if strings.HasPrefix(name, "conv_wgrad") {
		rows = a["k"] * a["k"] * a["c"] // the weight gradient's K
	}
	if int64(g.X)*128 < a["f"] || int64(g.Y)*128 < rows {
		return invalid("%s: grid (%d,%d) of 128x128 tiles does not cover %d x %d outputs", name, g.X, g.Y, rows, a["f"])
	}
	return nil
}
