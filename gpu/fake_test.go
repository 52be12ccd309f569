package gpu

// These tests run CUDAOps against the fake driver (fake.go): the pool,
// the budget, error mapping, argument packing and the head's launch
// sequence, on any machine. The kernels themselves are not run: their
// arithmetic is checked by the kernel emulator (scripts/kernel-emu) and,
// on a GPU, by ops_test.go.

import (
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/kernels"
)

func fakeOps(t *testing.T, budget int64, dev FakeDevice) (*CUDAOps, *Fake) {
	t.Helper()
	return fakeOpsWith(t, Options{MemoryBudget: budget}, dev)
}

func fakeOpsWith(t *testing.T, o Options, dev FakeDevice) (*CUDAOps, *Fake) {
	t.Helper()
	ops, f, err := NewFakeOps(o, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if ops.ctx != nil {
			if err := ops.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	})
	return ops, f
}

// trainStep runs one training step and one evaluation through head.Model.
func trainStep(t *testing.T, ops *CUDAOps, spec head.Spec, batch, samples int) {
	t.Helper()
	opt, err := head.NewOptimizer(head.Adam)
	if err != nil {
		t.Fatal(err)
	}
	m, err := head.New(ops, spec, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	host := make([]float32, samples*spec.FeatureSize())
	for i := range host {
		host[i] = float32(rng.NormFloat64())
	}
	feats, err := head.UploadFeatures(ops, spec, host)
	if err != nil {
		t.Fatal(err)
	}
	defer ops.Free(feats)
	idx, labels := make([]int32, batch), make([]int32, batch)
	for i := range idx {
		idx[i], labels[i] = int32(rng.IntN(samples)), int32(rng.IntN(spec.Classes))
	}
	if _, err := m.TrainBatch(feats, idx, labels); err != nil {
		t.Fatalf("training step: %v", err)
	}
	if _, err := m.Logits(head.Resident{Buf: feats}, samples, samples); err != nil {
		t.Fatalf("evaluation: %v", err)
	}
}

// The acceptance test of the seam: a training step's launches, in order,
// each with the argument count, sizes and kinds of the kernel's signature
// in head.cu (the fake refuses any other), and the shape arguments by
// name equal to the spec's.
func TestTrainingStepLaunchesMatchSignatures(t *testing.T) {
	sigs, err := kernels.Signatures(kernels.Source)
	if err != nil {
		t.Fatal(err)
	}
	conv := func(h, w, c, f, k int) head.Spec {
		return head.Spec{Height: h, Width: w, Channels: c, Kind: head.KindConv, Filters: f, Kernel: k, Classes: 10}
	}
	fwd := []string{"conv_fwd", "pool_rows", "dense_fwd"}
	fwdSplit := []string{"conv_fwd", "splitk_reduce", "pool_rows", "dense_fwd"}
	bwd := []string{"softmax_xent", "dense_bwd", "unpool_relu", "sum_rows", "conv_wgrad"}
	// tc names the GEMM kernels of a precision.
	tc := func(names []string, suffix string) []string {
		out := slices.Clone(names)
		for i, n := range out {
			if n == "conv_fwd" || n == "conv_wgrad" {
				out[i] = n + suffix
			}
		}
		return out
	}
	refStep := slices.Concat(fwdSplit, bwd, []string{"splitk_reduce", "optimizer_step"})
	for _, c := range []struct {
		name         string
		spec         head.Spec
		prec         Precision
		batch, sms   int
		step, eval   []string
		wantSplitFwd bool
	}{
		{"conv, one SM: no split", conv(5, 3, 7, 9, 3), PrecisionFP32, 6, 1,
			slices.Concat(fwd, bwd, []string{"optimizer_step"}), fwd, false},
		{"conv, C not a multiple of 16: fp32 kernels in tf32 mode", conv(5, 3, 7, 9, 3), PrecisionTF32, 6, 1,
			slices.Concat(fwd, bwd, []string{"optimizer_step"}), fwd, false},
		{"reference shape on 132 SMs: split-K both ways", conv(7, 7, 2048, 256, 3), PrecisionFP32, 32, 132,
			refStep, fwdSplit, true},
		{"reference shape, tf32 (the default)", conv(7, 7, 2048, 256, 3), PrecisionAuto, 32, 132,
			tc(refStep, "_tf32"), tc(fwdSplit, "_tf32"), true},
		{"reference shape, bf16", conv(7, 7, 2048, 256, 3), PrecisionBF16, 32, 132,
			tc(refStep, "_bf16"), tc(fwdSplit, "_bf16"), true},
		{"16 channels, 12 filters, tf32, one SM", conv(5, 3, 16, 12, 3), PrecisionTF32, 6, 1,
			tc(slices.Concat(fwd, bwd, []string{"optimizer_step"}), "_tf32"), tc(fwd, "_tf32"), false},
		{"linear probe", head.Spec{Height: 7, Width: 5, Channels: 37, Kind: head.KindLinear, Classes: 5}, PrecisionAuto, 13, 8,
			[]string{"gather_pool", "dense_fwd", "softmax_xent", "dense_bwd", "optimizer_step"}, []string{"gather_pool", "dense_fwd"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops, f := fakeOpsWith(t, Options{Precision: c.prec}, FakeDevice{Multiprocessors: c.sms, MemoryBytes: 4 << 30})
			trainStep(t, ops, c.spec, c.batch, c.batch+3)
			if got, want := f.Launches(), slices.Concat(c.step, c.eval); !slices.Equal(got, want) {
				t.Fatalf("launches:\n got %v\nwant %v", got, want)
			}
			for _, l := range f.launches {
				named := map[string]uint64{}
				for i, p := range sigs[l.kernel].Params {
					named[p.Name] = l.args[i].bits
				}
				want := map[string]int{}
				switch l.kernel {
				case "conv_fwd", "conv_wgrad", "conv_fwd_tf32", "conv_wgrad_tf32", "conv_fwd_bf16", "conv_wgrad_bf16":
					want = map[string]int{"h": c.spec.Height, "wd": c.spec.Width, "c": c.spec.Channels, "f": c.spec.Filters, "k": c.spec.Kernel}
				case "dense_fwd", "dense_bwd", "softmax_xent":
					want = map[string]int{"classes": c.spec.Classes}
				case "pool_rows", "gather_pool":
					want = map[string]int{"hw": c.spec.Height * c.spec.Width}
				}
				for name, v := range want {
					if got := int(named[name]); got != v {
						t.Errorf("%s: argument %s = %d, want %d", l.kernel, name, got, v)
					}
				}
				if strings.HasPrefix(l.kernel, "conv_fwd") && l.grid.z > 1 != c.wantSplitFwd {
					t.Errorf("conv_fwd grid %+v: split-K %v, want %v", l.grid, l.grid.z > 1, c.wantSplitFwd)
				}
			}
		})
	}
}

// The fake must refuse what a real driver would, or else the test above
// proves nothing.
func TestFakeRefusesBadCalls(t *testing.T) {
	_, f := fakeOps(t, 0, FakeDevice{})
	fn, err := fakeModule{f}.function("pool_rows") // (const float *x, float *pooled, i64 hw, i64 width)
	if err != nil {
		t.Fatal(err)
	}
	var live, gone devicePtr
	inside := func(call func() error) error { return f.do(call) }
	if err := inside(func() error {
		var err error
		if live, err = f.alloc(1024); err != nil {
			return err
		}
		if gone, err = f.alloc(1024); err != nil {
			return err
		}
		return f.free(gone)
	}); err != nil {
		t.Fatal(err)
	}
	ok := []arg{ptrArg(live), ptrArg(live + 512), intArg(4), intArg(8)}
	if err := inside(func() error { return fn.launch(dim3{1, 1, 1}, 128, ok, 0) }); err != nil {
		t.Fatalf("a good launch: %v", err)
	}
	for _, c := range []struct {
		name string
		call func() error
		want string
	}{
		{"outside do", func() error { return fn.launch(dim3{1, 1, 1}, 128, ok, 0) }, "outside do"},
		{"missing argument", func() error { return inside(func() error { return fn.launch(dim3{1, 1, 1}, 128, ok[:3], 0) }) }, "3 arguments"},
		{"int where a pointer goes", func() error {
			return inside(func() error { return fn.launch(dim3{1, 1, 1}, 128, []arg{intArg(1), ok[1], ok[2], ok[3]}, 0) })
		}, "argument 0"},
		{"double where an i64 goes", func() error {
			return inside(func() error { return fn.launch(dim3{1, 1, 1}, 128, []arg{ok[0], ok[1], floatArg(4), ok[3]}, 0) })
		}, "argument 2"},
		{"freed pointer", func() error {
			return inside(func() error { return fn.launch(dim3{1, 1, 1}, 128, []arg{ptrArg(gone), ok[1], ok[2], ok[3]}, 0) })
		}, "not in any live allocation"},
		{"grid y over 65535", func() error { return inside(func() error { return fn.launch(dim3{1, 65536, 1}, 128, ok, 0) }) }, "grid"},
		{"block over 1024", func() error { return inside(func() error { return fn.launch(dim3{1, 1, 1}, 2048, ok, 0) }) }, "block"},
		{"block over the launch bounds", func() error {
			g, _ := fakeModule{f}.function("conv_fwd")
			return inside(func() error { return g.launch(dim3{1, 1, 1}, 512, nil, 0) })
		}, "1 to 256"},
		{"copy past the end", func() error { return inside(func() error { return f.copyHtoD(live+1000, make([]byte, 32)) }) }, "past the end"},
		{"copy from a freed block", func() error { return inside(func() error { return f.copyDtoH(make([]byte, 4), gone) }) }, "not in any live allocation"},
		{"double free", func() error { return inside(func() error { return f.free(gone) }) }, "freed twice"},
		{"unknown kernel", func() error { _, err := fakeModule{f}.function("conv_bwd_data"); return err }, "NOT_FOUND"},
	} {
		err := c.call()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

func TestPoolBudgetCacheAndOutOfMemory(t *testing.T) {
	const budget = 1 << 20
	ops, f := fakeOps(t, budget, FakeDevice{MemoryBytes: 64 << 20})
	small, err := ops.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	// A freed block is cached and handed out again: no new allocation.
	ops.Free(small)
	before := f.Allocations()
	again, err := ops.Alloc(1000)
	if err != nil || f.Allocations() != before {
		t.Errorf("reallocating a cached size: %v, %d device allocations (want %d)", err, f.Allocations(), before)
	}
	defer ops.Free(again)
	_, err = ops.Alloc(budget / 4 * 2) // 2 MiB: over the budget
	if !errors.Is(err, ErrOutOfMemory) || !errors.Is(err, head.ErrOutOfMemory) {
		t.Fatalf("allocation over the budget: %v, want ErrOutOfMemory", err)
	}
	for _, want := range []string{strconv.Itoa(budget), strconv.Itoa(budget / 4 * 2 * 4), "budget"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The device refusing (a budget larger than the GPU) is ErrOutOfMemory
	// too, with the driver's error in the chain.
	huge, _ := fakeOps(t, 1<<40, FakeDevice{MemoryBytes: 64 << 20})
	_, err = huge.Alloc(32 << 20)
	if !errors.Is(err, ErrOutOfMemory) || !errors.Is(err, ErrCUDA) || !errors.Is(err, errFakeOOM) || !strings.Contains(err.Error(), "the device itself has no room") {
		t.Errorf("allocation larger than the device: %v", err)
	}
	// Cached blocks are freed to make room before the device says no.
	dev, df := fakeOps(t, 1<<40, FakeDevice{MemoryBytes: 8 << 20})
	a, err := dev.Alloc(1 << 20) // 4 MiB
	if err != nil {
		t.Fatal(err)
	}
	dev.Free(a)
	b, err := dev.Alloc(3 << 19) // 6 MiB: fits only once the cached 4 MiB are freed
	if err != nil {
		t.Fatalf("cache not trimmed before the device ran out: %v", err)
	}
	dev.Free(b)
	if df.used != 6<<20 {
		t.Errorf("device holds %d bytes, want the 6 MiB block only", df.used)
	}
}

func TestKernelFaultLosesTheContext(t *testing.T) {
	ops, f := fakeOps(t, 0, FakeDevice{})
	f.fault = "softmax_xent"
	spec := head.Spec{Height: 3, Width: 3, Channels: 4, Kind: head.KindConv, Filters: 5, Kernel: 3, Classes: 3}
	opt, _ := head.NewOptimizer(head.SGD)
	m, err := head.New(ops, spec, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	feats, err := head.UploadFeatures(ops, spec, make([]float32, 2*spec.FeatureSize()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = m.TrainBatch(feats, []int32{0, 1}, []int32{0, 2})
	if !errors.Is(err, ErrContextLost) || !errors.Is(err, ErrCUDA) || !strings.Contains(err.Error(), "restart") || !strings.Contains(err.Error(), "softmax_xent") {
		t.Errorf("kernel fault: %v", err)
	}
	if err := ops.Upload(feats, 0, []float32{1}); !errors.Is(err, ErrContextLost) {
		t.Errorf("a call after the fault: %v, want ErrContextLost", err)
	}
	if err := ops.Close(); !errors.Is(err, ErrContextLost) || !f.released {
		t.Errorf("Close after the fault: %v (context released: %v)", err, f.released)
	}
}

// Issue 15, defect 4: the GEMM grid limits are checked before any kernel
// runs, not after the forward pass and half the backward.
func TestGridLimitsCheckedBeforeAnyLaunch(t *testing.T) {
	ops, f := fakeOps(t, 0, FakeDevice{MemoryBytes: 4 << 30})
	// 3x3 taps x 940,000 channels: 66,094 tiles of 128 rows in the weight
	// gradient's grid y.
	spec := head.Spec{Height: 1, Width: 1, Channels: 940_000, Kind: head.KindConv, Filters: 1, Kernel: 3, Classes: 2}
	params, err := ops.Alloc(spec.Layout().Total)
	if err != nil {
		t.Fatal(err)
	}
	grads, _ := ops.Alloc(spec.Layout().Total)
	feats, err := head.UploadFeatures(ops, spec, make([]float32, spec.FeatureSize()))
	if err != nil {
		t.Fatal(err)
	}
	_, err = ops.Gradients(spec, params, feats, []int32{0}, []int32{1}, grads)
	if !errors.Is(err, head.ErrShape) || !strings.Contains(err.Error(), "too large for one launch") {
		t.Errorf("weight gradient over the grid limit: %v", err)
	}
	if l := f.Launches(); len(l) != 0 {
		t.Errorf("kernels ran before the limit was checked: %v", l)
	}
}

func TestCloseSynchronisesAndFreesEverything(t *testing.T) {
	ops, f := fakeOps(t, 0, FakeDevice{})
	trainStep(t, ops, head.Spec{Height: 4, Width: 4, Channels: 8, Kind: head.KindConv, Filters: 8, Kernel: 3, Classes: 3}, 4, 6)
	if err := ops.Close(); err != nil {
		t.Fatal(err)
	}
	if f.syncs == 0 {
		t.Error("Close did not synchronise: a fault of the last kernel would go unreported")
	}
	if f.used != 0 || !f.released {
		t.Errorf("after Close: %d bytes still allocated, context released %v", f.used, f.released)
	}
}

// Issue 15, defect 2: the planned scratch covers every step, so that
// reserving it before the features leaves nothing to allocate at step 1.
func TestReservedScratchCoversTheSteps(t *testing.T) {
	for _, c := range []struct {
		name             string
		spec             head.Spec
		batch, eval, sms int
	}{
		{"small conv, 1 SM", head.Spec{Height: 5, Width: 3, Channels: 7, Kind: head.KindConv, Filters: 9, Kernel: 3, Classes: 3}, 6, 20, 1},
		{"reference shape, 132 SMs", head.DefaultSpec(7, 7, 2048, 10), 32, 64, 132},
		{"reference shape, 108 SMs, eval below batch", head.DefaultSpec(7, 7, 2048, 10), 48, 16, 108},
		{"linear probe", head.Spec{Height: 7, Width: 7, Channels: 37, Kind: head.KindLinear, Classes: 5}, 13, 40, 8},
	} {
		for _, prec := range []Precision{PrecisionFP32, PrecisionTF32, PrecisionBF16} {
			t.Run(c.name+"/"+string(prec), func(t *testing.T) {
				reservedCoversSteps(t, c.spec, c.batch, c.eval, c.sms, prec)
			})
		}
	}
}

func reservedCoversSteps(t *testing.T, spec head.Spec, batch, eval, sms int, prec Precision) {
	ops, f := fakeOpsWith(t, Options{Precision: prec}, FakeDevice{Multiprocessors: sms, MemoryBytes: 8 << 30})
	opt, _ := head.NewOptimizer(head.Adam)
	m, err := head.New(ops, spec, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	n := max(batch, eval)
	feats, err := head.UploadFeatures(ops, spec, make([]float32, n*spec.FeatureSize()))
	if err != nil {
		t.Fatal(err)
	}
	if err := ops.ReserveScratch(spec, batch, eval); err != nil {
		t.Fatal(err)
	}
	allocs, used := f.Allocations(), ops.pool.used
	idx, labels := make([]int32, batch), make([]int32, batch)
	for i := range idx {
		labels[i] = int32(i % spec.Classes)
	}
	if _, err := m.TrainBatch(feats, idx, labels); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Logits(head.Resident{Buf: feats}, eval, eval); err != nil {
		t.Fatal(err)
	}
	if f.Allocations() != allocs || ops.pool.used != used {
		t.Errorf("steps allocated after the reservation: %d -> %d device allocations, %d -> %d bytes in use",
			allocs, f.Allocations(), used, ops.pool.used)
	}
}

// The fake's extents table names every kernel of head.cu and only
// pointer parameters they declare.
func TestFakeExtentsMatchHeadCU(t *testing.T) {
	sigs, err := kernels.Signatures(kernels.Source)
	if err != nil {
		t.Fatal(err)
	}
	for name, sig := range sigs {
		ext, ok := fakeExtents[name]
		if !ok {
			t.Errorf("no extents for kernel %s", name)
			continue
		}
		pointers := map[string]bool{}
		for _, p := range sig.Params {
			pointers[p.Name] = p.Pointer
		}
		for param := range ext(map[string]int64{}, dim3{1, 1, 1}, func(string, int64) int64 { return 1 }) {
			if !pointers[param] {
				t.Errorf("%s: extents for %q, not a pointer parameter of the kernel", name, param)
			}
		}
	}
	for name := range fakeExtents {
		if _, ok := sigs[name]; !ok {
			t.Errorf("extents for %s, which head.cu does not declare", name)
		}
	}
}

// A buffer shorter than the kernel touches is refused, as memcheck would.
func TestFakeRefusesShortBuffers(t *testing.T) {
	_, f := fakeOps(t, 0, FakeDevice{})
	fn, _ := fakeModule{f}.function("sum_rows") // (const float *x, float *out, i64 n, i64 width)
	err := f.do(func() error {
		x, err := f.alloc(4 * 12)
		if err != nil {
			return err
		}
		out, err := f.alloc(4 * 4)
		if err != nil {
			return err
		}
		if err := fn.launch(dim3{1, 1, 1}, 128, []arg{ptrArg(x), ptrArg(out), intArg(3), intArg(4)}, 0); err != nil {
			t.Errorf("3 rows of 4 in 12 floats: %v", err)
		}
		return fn.launch(dim3{1, 1, 1}, 128, []arg{ptrArg(x), ptrArg(out), intArg(4), intArg(4)}, 0)
	})
	if err == nil || !strings.Contains(err.Error(), "argument x (16 elements)") || !strings.Contains(err.Error(), "past the end") {
		t.Errorf("4 rows of 4 in 12 floats: %v", err)
	}
}

// The precision: parsed from the flag, resolved against the GPU (the
// tensor-core modes need compute capability 8.0), and per shape (the
// tensor-core kernels take C % 16 == 0 and F % 4 == 0 only).
func TestPrecision(t *testing.T) {
	for _, c := range []struct {
		flag, cc string
		want     Precision
		err      string
	}{
		{"", "9.0", PrecisionTF32, ""},
		{"auto", "8.0", PrecisionTF32, ""},
		{"", "7.0", PrecisionFP32, ""},
		{"BF16", "8.6", PrecisionBF16, ""},
		{"fp32", "9.0", PrecisionFP32, ""},
		{"tf32", "7.5", "", "use --precision fp32"},
		{"fp16", "9.0", "", "use tf32"},
	} {
		p, err := ParsePrecision(c.flag)
		if err == nil {
			var ops *CUDAOps
			ops, _, err = NewFakeOps(Options{Precision: p}, FakeDevice{ComputeCapability: c.cc})
			if err == nil {
				p = ops.Precision(head.DefaultSpec(7, 7, 2048, 10))
				if odd := ops.Precision(head.DefaultSpec(7, 7, 40, 10)); odd != PrecisionFP32 {
					t.Errorf("%q on %s: 40 channels run at %s, want fp32", c.flag, c.cc, odd)
				}
				if err := ops.Close(); err != nil {
					t.Fatal(err)
				}
			}
		}
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q on %s: %v, want an error with %q", c.flag, c.cc, err, c.err)
		case c.err == "" && (err != nil || p != c.want):
			t.Errorf("%q on %s: %q, %v; want %q", c.flag, c.cc, p, err, c.want)
		}
	}
}

// The fake refuses tensor-core launches whose shape or alignment the
// kernels assume and do not check.
func TestFakeRefusesTensorCorePreconditions(t *testing.T) {
	_, f := fakeOps(t, 0, FakeDevice{})
	fn, _ := fakeModule{f}.function("conv_fwd_tf32")
	launch := func(c, kslice int, shift devicePtr) error {
		return f.do(func() error {
			feats, _ := f.alloc(4 * 2 * 9 * 32)
			idx, _ := f.alloc(4 * 2)
			w, _ := f.alloc(4 * 9 * 32 * 8)
			bias, _ := f.alloc(4 * 8)
			out, _ := f.alloc(4 * 2 * 9 * 8)
			return fn.launch(dim3{1, 1, 1}, 256, []arg{ptrArg(feats + shift), ptrArg(idx), ptrArg(w), ptrArg(bias), ptrArg(out),
				intArg(2), intArg(3), intArg(3), intArg(c), intArg(8), intArg(3), intArg(kslice), intArg(1)}, 0)
		})
	}
	if err := launch(16, 144, 0); err != nil {
		t.Errorf("a valid launch: %v", err)
	}
	for _, c := range []struct {
		c, kslice int
		shift     devicePtr
		want      string
	}{
		{8, 72, 0, "do not take this shape"},
		{16, 72, 0, "do not take this shape"}, // a slice of 72 mixes taps
		{16, 144, 4, "not 16-byte aligned"},
	} {
		if err := launch(c.c, c.kslice, c.shift); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("c %d slice %d shift %d: %v, want %q", c.c, c.kslice, c.shift, err, c.want)
		}
	}
}
