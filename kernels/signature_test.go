package kernels

import (
	"strings"
	"testing"
)

// Signatures read from head.cu, checked against a few written out by hand
// from the source.
func TestSignaturesOfHeadCU(t *testing.T) {
	sigs, err := Signatures(Source)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"conv_fwd", "conv_wgrad", "splitk_reduce", "pool_rows", "gather_pool", "dense_fwd",
		"softmax_xent", "dense_bwd", "unpool_relu", "sum_rows", "optimizer_step",
		"conv_fwd_tf32", "conv_fwd_bf16", "conv_wgrad_tf32", "conv_wgrad_bf16"}
	if len(sigs) != len(want) {
		t.Errorf("%d kernels, want %d", len(sigs), len(want))
	}
	for _, name := range want {
		if _, ok := sigs[name]; !ok {
			t.Errorf("no kernel %s", name)
		}
	}
	conv := sigs["conv_fwd"]
	if conv.MaxThreads != 256 || len(conv.Params) != 13 {
		t.Fatalf("conv_fwd: %d params, launch bound %d; want 13 and 256", len(conv.Params), conv.MaxThreads)
	}
	for i, w := range []Param{{"feats", "float *", true, 8, true}, {"idx", "int *", true, 8, true}, {"batch", "i64", false, 8, false}, {"epi", "i64", false, 8, false}} {
		j := map[int]int{0: 0, 1: 1, 2: 5, 3: 12}[i]
		if conv.Params[j] != w {
			t.Errorf("conv_fwd param %d: %+v, want %+v", j, conv.Params[j], w)
		}
	}
	if out := conv.Params[4]; out.Name != "out" || out.Const {
		t.Errorf("conv_fwd out: %+v, want a pointer the kernel writes", out)
	}
	// The tensor-core kernels: conv_fwd's and conv_wgrad's parameters, their
	// launch bound a #define (TC_THREADS).
	for _, pair := range [][2]string{{"conv_fwd_tf32", "conv_fwd"}, {"conv_fwd_bf16", "conv_fwd"},
		{"conv_wgrad_tf32", "conv_wgrad"}, {"conv_wgrad_bf16", "conv_wgrad"}} {
		tc, simt := sigs[pair[0]], sigs[pair[1]]
		if tc.MaxThreads != 256 || len(tc.Params) != len(simt.Params) {
			t.Errorf("%s: %d params, launch bound %d; want %d and 256", pair[0], len(tc.Params), tc.MaxThreads, len(simt.Params))
			continue
		}
		for i := range tc.Params {
			if tc.Params[i] != simt.Params[i] {
				t.Errorf("%s param %d: %+v, %s has %+v", pair[0], i, tc.Params[i], pair[1], simt.Params[i])
			}
		}
	}
	xent := sigs["softmax_xent"]
	if p := xent.Params[3]; p.Type != "double *" || !p.Pointer {
		t.Errorf("softmax_xent loss: %+v", p)
	}
	if p := xent.Params[7]; p.Name != "smoothing" || p.Type != "double" || p.Size != 8 {
		t.Errorf("softmax_xent smoothing: %+v", p)
	}
	if sigs["pool_rows"].MaxThreads != 0 {
		t.Errorf("pool_rows has no launch bounds, got %d", sigs["pool_rows"].MaxThreads)
	}
}

func TestSignaturesRejectUnknownTypes(t *testing.T) {
	for _, src := range []string{
		`extern "C" __global__ void k(const float *x, short n) {}`,
		`extern "C" __global__ void __launch_bounds__(NOPE, 2) k(float *x) {}`,
		`__global__ void k(float *x) {}`,
		`extern "C" __global__ void k(float *x) {} extern "C" __global__ void k(float *y) {}`,
	} {
		if _, err := Signatures(src); err == nil || !strings.Contains(err.Error(), "kernels:") {
			t.Errorf("%q: %v", src, err)
		}
	}
	sigs, err := Signatures("#define T 64\nextern \"C\" __global__ void __launch_bounds__(T) k(float *__restrict__ x, int n) {}")
	if err != nil || sigs["k"].MaxThreads != 64 || sigs["k"].Params[1].Size != 4 {
		t.Errorf("%+v %v", sigs, err)
	}
}
