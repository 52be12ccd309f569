package gpu

// fakeExtents is, for each kernel of head.cu, how many elements each
// pointer argument must hold given the scalar arguments (by parameter
// name) and the grid: what the kernel reads or writes, as gpu/ops.go
// launches it. The fake driver refuses a launch whose buffers are shorter,
// where a GPU would read or write out of bounds (compute-sanitizer's
// memcheck). A test checks the names against head.cu's signatures.
//
// samples(name, n) is 1 + the largest of the n sample indices the pointer
// argument name points at (the feature buffer must hold that many).
var fakeExtents = map[string]func(a map[string]int64, g dim3, samples func(string, int64) int64) map[string]int64{
	"conv_fwd": func(a map[string]int64, g dim3, samples func(string, int64) int64) map[string]int64 {
		layers := int64(g.z)
		if a["epi"] != 0 {
			layers = 1
		}
		return map[string]int64{"idx": a["batch"], "feats": samples("idx", a["batch"]) * a["h"] * a["wd"] * a["c"],
			"w": a["k"] * a["k"] * a["c"] * a["f"], "bias": a["f"],
			"out": layers * a["batch"] * a["h"] * a["wd"] * a["f"]}
	},
	"conv_wgrad": func(a map[string]int64, g dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"idx": a["batch"], "feats": samples("idx", a["batch"]) * a["h"] * a["wd"] * a["c"],
			"dz":  a["batch"] * a["h"] * a["wd"] * a["f"],
			"out": int64(g.z) * a["k"] * a["k"] * a["c"] * a["f"]}
	},
	"splitk_reduce": func(a map[string]int64, _ dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"ws": a["splits"] * a["m"] * a["n"], "bias": a["n"], "out": a["m"] * a["n"]}
	},
	"pool_rows": func(a map[string]int64, g dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"x": int64(g.y) * a["hw"] * a["width"], "pooled": int64(g.y) * a["width"]}
	},
	"gather_pool": func(a map[string]int64, g dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"idx": int64(g.y), "feats": samples("idx", int64(g.y)) * a["hw"] * a["width"],
			"pooled": int64(g.y) * a["width"]}
	},
	"dense_fwd": func(a map[string]int64, _ dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"pooled": a["batch"] * a["in"], "w": a["in"] * a["classes"], "bias": a["classes"],
			"logits": a["batch"] * a["classes"]}
	},
	"softmax_xent": func(a map[string]int64, _ dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"logits": a["batch"] * a["classes"], "labels": a["batch"], "dlogits": a["batch"] * a["classes"],
			"loss": a["batch"], "correct": a["batch"]}
	},
	"dense_bwd": func(a map[string]int64, _ dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"pooled": a["batch"] * a["in"], "dlogits": a["batch"] * a["classes"], "w": a["in"] * a["classes"],
			"dw": a["in"] * a["classes"], "db": a["classes"], "dpooled": a["batch"] * a["in"]}
	},
	"unpool_relu": func(a map[string]int64, g dim3, samples func(string, int64) int64) map[string]int64 {
		return map[string]int64{"act": int64(g.y) * a["hw"] * a["f"], "dpooled": int64(g.y) * a["f"], "bsum": int64(g.y) * a["f"]}
	},
	"sum_rows": func(a map[string]int64, _ dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"x": a["n"] * a["width"], "out": a["width"]}
	},
	"optimizer_step": func(a map[string]int64, _ dim3, _ func(string, int64) int64) map[string]int64 {
		return map[string]int64{"p": a["n"], "g": a["n"], "s0": a["n"], "s1": a["n"]}
	},
}
