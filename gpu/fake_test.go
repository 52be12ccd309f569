package gpu_test

// These tests run CUDAOps against the fake driver (gpu/gputest): the pool,
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

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/gpu/gputest"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/kernels"
)

func fakeOps(t *testing.T, budget int64, dev gputest.Device) (*gpu.CUDAOps, *gputest.Fake) {
	t.Helper()
	return fakeOpsWith(t, gpu.Options{MemoryBudget: budget}, dev)
}

func fakeOpsWith(t *testing.T, o gpu.Options, dev gputest.Device) (*gpu.CUDAOps, *gputest.Fake) {
	t.Helper()
	ops, f, err := gputest.NewOps(o, dev)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if gpu.IsOpen(ops) {
			if err := ops.Close(); err != nil {
				t.Errorf("close: %v", err)
			}
		}
	})
	return ops, f
}

// trainStep runs one training step and one evaluation through head.Model.
func trainStep(t *testing.T, ops *gpu.CUDAOps, spec head.Spec, batch, samples int) {
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
		prec         gpu.Precision
		batch, sms   int
		step, eval   []string
		wantSplitFwd bool
	}{
		{"conv, one SM: no split", conv(5, 3, 7, 9, 3), gpu.PrecisionFP32, 6, 1,
			slices.Concat(fwd, bwd, []string{"optimizer_step"}), fwd, false},
		{"conv, C not a multiple of 16: fp32 kernels in tf32 mode", conv(5, 3, 7, 9, 3), gpu.PrecisionTF32, 6, 1,
			slices.Concat(fwd, bwd, []string{"optimizer_step"}), fwd, false},
		{"reference shape on 132 SMs: split-K both ways", conv(7, 7, 2048, 256, 3), gpu.PrecisionFP32, 32, 132,
			refStep, fwdSplit, true},
		{"reference shape, tf32 (the default)", conv(7, 7, 2048, 256, 3), gpu.PrecisionAuto, 32, 132,
			tc(refStep, "_tf32"), tc(fwdSplit, "_tf32"), true},
		{"reference shape, bf16", conv(7, 7, 2048, 256, 3), gpu.PrecisionBF16, 32, 132,
			tc(refStep, "_bf16"), tc(fwdSplit, "_bf16"), true},
		{"16 channels, 12 filters, tf32, one SM", conv(5, 3, 16, 12, 3), gpu.PrecisionTF32, 6, 1,
			tc(slices.Concat(fwd, bwd, []string{"optimizer_step"}), "_tf32"), tc(fwd, "_tf32"), false},
		{"linear probe", head.Spec{Height: 7, Width: 5, Channels: 37, Kind: head.KindLinear, Classes: 5}, gpu.PrecisionAuto, 13, 8,
			[]string{"gather_pool", "dense_fwd", "softmax_xent", "dense_bwd", "optimizer_step"}, []string{"gather_pool", "dense_fwd"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ops, f := fakeOpsWith(t, gpu.Options{Precision: c.prec}, gputest.Device{Multiprocessors: c.sms, MemoryBytes: 4 << 30})
			trainStep(t, ops, c.spec, c.batch, c.batch+3)
			if got, want := f.Launches(), slices.Concat(c.step, c.eval); !slices.Equal(got, want) {
				t.Fatalf("launches:\n got %v\nwant %v", got, want)
			}
			for _, l := range f.Calls() {
				named := map[string]uint64{}
				for i, p := range sigs[l.Kernel].Params {
					named[p.Name] = l.Args[i].Bits
				}
				want := map[string]int{}
				switch l.Kernel {
				case "conv_fwd", "conv_wgrad", "conv_fwd_tf32", "conv_wgrad_tf32", "conv_fwd_bf16", "conv_wgrad_bf16":
					want = map[string]int{"h": c.spec.Height, "wd": c.spec.Width, "c": c.spec.Channels, "f": c.spec.Filters, "k": c.spec.Kernel}
				case "dense_fwd", "dense_bwd", "softmax_xent":
					want = map[string]int{"classes": c.spec.Classes}
				case "pool_rows", "gather_pool":
					want = map[string]int{"hw": c.spec.Height * c.spec.Width}
				}
				for name, v := range want {
					if got := int(named[name]); got != v {
						t.Errorf("%s: argument %s = %d, want %d", l.Kernel, name, got, v)
					}
				}
				if strings.HasPrefix(l.Kernel, "conv_fwd") && l.Grid.Z > 1 != c.wantSplitFwd {
					t.Errorf("conv_fwd grid %+v: split-K %v, want %v", l.Grid, l.Grid.Z > 1, c.wantSplitFwd)
				}
			}
		})
	}
}

func TestPoolBudgetCacheAndOutOfMemory(t *testing.T) {
	const budget = 1 << 20
	ops, f := fakeOps(t, budget, gputest.Device{MemoryBytes: 64 << 20})
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
	if !errors.Is(err, gpu.ErrOutOfMemory) || !errors.Is(err, head.ErrOutOfMemory) {
		t.Fatalf("allocation over the budget: %v, want gpu.ErrOutOfMemory", err)
	}
	for _, want := range []string{strconv.Itoa(budget), strconv.Itoa(budget / 4 * 2 * 4), "budget"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// The device refusing (a budget larger than the GPU) is ErrOutOfMemory
	// too, with the driver's error in the chain.
	huge, _ := fakeOps(t, 1<<40, gputest.Device{MemoryBytes: 64 << 20})
	_, err = huge.Alloc(32 << 20)
	if !errors.Is(err, gpu.ErrOutOfMemory) || !errors.Is(err, gpu.ErrCUDA) || !errors.Is(err, gputest.ErrOutOfMemory) || !strings.Contains(err.Error(), "the device itself has no room") {
		t.Errorf("allocation larger than the device: %v", err)
	}
	// Cached blocks are freed to make room before the device says no.
	dev, df := fakeOps(t, 1<<40, gputest.Device{MemoryBytes: 8 << 20})
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
	if df.UsedBytes() != 6<<20 {
		t.Errorf("device holds %d bytes, want the 6 MiB block only", df.UsedBytes())
	}
}

func TestKernelFaultLosesTheContext(t *testing.T) {
	ops, f := fakeOps(t, 0, gputest.Device{})
	f.FailKernel("softmax_xent")
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
	if !errors.Is(err, gpu.ErrContextLost) || !errors.Is(err, gpu.ErrCUDA) || !strings.Contains(err.Error(), "restart") || !strings.Contains(err.Error(), "softmax_xent") {
		t.Errorf("kernel fault: %v", err)
	}
	if err := ops.Upload(feats, 0, []float32{1}); !errors.Is(err, gpu.ErrContextLost) {
		t.Errorf("a call after the fault: %v, want gpu.ErrContextLost", err)
	}
	if err := ops.Close(); !errors.Is(err, gpu.ErrContextLost) || !f.Released() {
		t.Errorf("Close after the fault: %v (context released: %v)", err, f.Released())
	}
}

// Issue 15, defect 4: the GEMM grid limits are checked before any kernel
// runs, not after the forward pass and half the backward.
func TestGridLimitsCheckedBeforeAnyLaunch(t *testing.T) {
	ops, f := fakeOps(t, 0, gputest.Device{MemoryBytes: 4 << 30})
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
	ops, f := fakeOps(t, 0, gputest.Device{})
	trainStep(t, ops, head.Spec{Height: 4, Width: 4, Channels: 8, Kind: head.KindConv, Filters: 8, Kernel: 3, Classes: 3}, 4, 6)
	if err := ops.Close(); err != nil {
		t.Fatal(err)
	}
	if f.Syncs() == 0 {
		t.Error("Close did not synchronise: a fault of the last kernel would go unreported")
	}
	if f.UsedBytes() != 0 || !f.Released() {
		t.Errorf("after Close: %d bytes still allocated, context released %v", f.UsedBytes(), f.Released())
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
		for _, prec := range []gpu.Precision{gpu.PrecisionFP32, gpu.PrecisionTF32, gpu.PrecisionBF16} {
			t.Run(c.name+"/"+string(prec), func(t *testing.T) {
				reservedCoversSteps(t, c.spec, c.batch, c.eval, c.sms, prec)
			})
		}
	}
}

func reservedCoversSteps(t *testing.T, spec head.Spec, batch, eval, sms int, prec gpu.Precision) {
	ops, f := fakeOpsWith(t, gpu.Options{Precision: prec}, gputest.Device{Multiprocessors: sms, MemoryBytes: 8 << 30})
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
	allocs, used := f.Allocations(), gpu.PoolUsed(ops)
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
	if f.Allocations() != allocs || gpu.PoolUsed(ops) != used {
		t.Errorf("steps allocated after the reservation: %d -> %d device allocations, %d -> %d bytes in use",
			allocs, f.Allocations(), used, gpu.PoolUsed(ops))
	}
}

// The precision: parsed from the flag, resolved against the GPU (the
// tensor-core modes need compute capability 8.0), and per shape (the
// tensor-core kernels take C % 16 == 0 and F % 4 == 0 only).
func TestPrecision(t *testing.T) {
	for _, c := range []struct {
		flag, cc string
		want     gpu.Precision
		err      string
	}{
		{"", "9.0", gpu.PrecisionTF32, ""},
		{"auto", "8.0", gpu.PrecisionTF32, ""},
		{"", "7.0", gpu.PrecisionFP32, ""},
		{"BF16", "8.6", gpu.PrecisionBF16, ""},
		{"fp32", "9.0", gpu.PrecisionFP32, ""},
		{"tf32", "7.5", "", "use --precision fp32"},
		{"fp16", "9.0", "", "use tf32"},
	} {
		p, err := gpu.ParsePrecision(c.flag)
		if err == nil {
			var ops *gpu.CUDAOps
			ops, _, err = gputest.NewOps(gpu.Options{Precision: p}, gputest.Device{ComputeCapability: c.cc})
			if err == nil {
				p = ops.Precision(head.DefaultSpec(7, 7, 2048, 10))
				if odd := ops.Precision(head.DefaultSpec(7, 7, 40, 10)); odd != gpu.PrecisionFP32 {
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
