package head

import (
	"errors"
	"math"
	"runtime"
	"strings"
	"testing"
)

func TestCPUPrecision(t *testing.T) {
	noBF16 := func() error { return errors.New("this CPU has no avx512_bf16") }
	hasBF16 := func() error { return nil }
	for _, c := range []struct {
		flag  string
		check func() error
		want  Precision
		err   string
	}{
		{"", noBF16, PrecisionFP32, ""},
		{"auto", noBF16, PrecisionFP32, ""},
		{"FP32", noBF16, PrecisionFP32, ""},
		{"bf16", hasBF16, PrecisionBF16, ""},
		{"bf16", noBF16, "", "precision bf16: this CPU has no avx512_bf16; use fp32"},
		{"tf32", hasBF16, "", "GPUs only"},
		{"fp16", hasBF16, "", "use tf32"},
	} {
		p, err := ParsePrecision(c.flag)
		if err == nil {
			p, err = CPUPrecision(p, c.check)
		}
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%q: %v, want an error with %q", c.flag, err, c.err)
		case c.err == "" && (err != nil || p != c.want):
			t.Errorf("%q: %q, %v; want %q", c.flag, p, err, c.want)
		}
	}
}

// TestBF16StepAgainstReference checks a whole bf16 step (forward,
// backward) against the float64 reference's finite differences. Rounding
// the conv GEMMs' inputs to bf16 (relative error 2^-9 each) leaves each
// gradient within bf16Tol of the largest of its tensor (the worst seen:
// 3.3e-3): looser than
// fp32's 1e-3, and far tighter than a wrong gradient. The loss is checked
// too.
func TestBF16StepAgainstReference(t *testing.T) {
	if _, err := NewCPUOpsAt(PrecisionBF16); err != nil {
		t.Skip(err)
	}
	const bf16Tol = 1e-2
	for _, c := range gradCases() {
		if c.spec.Kind != KindConv {
			continue
		}
		ours, st, err := gradientsAt(c, PrecisionBF16)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if want, got := referenceLoss(c, c.params), st.Loss/float64(st.Count); math.Abs(got-want) > bf16Tol*math.Max(1, math.Abs(want)) {
			t.Errorf("%s: loss %.5g, reference %.5g", c.name, got, want)
		}
		oracle := finiteDifferences(c)
		for _, tn := range c.spec.Layout().Tensors {
			var scale, worst float64
			for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
				scale = math.Max(scale, math.Abs(oracle[i]))
			}
			for i := tn.Offset; i < tn.Offset+tn.Size; i++ {
				worst = math.Max(worst, math.Abs(float64(ours[i])-oracle[i]))
			}
			if worst > bf16Tol*scale+gradAbsTol {
				t.Errorf("%s: %s: max |bf16 - reference| = %.3g, over %.3g of its largest %.3g", c.name, tn.Name, worst, bf16Tol, scale)
			}
			t.Logf("%s: %s: max |bf16 - reference| = %.2g of %.2g", c.name, tn.Name, worst, scale)
		}
	}
}

// TestWinogradEnv checks that a GRAFT_HEAD_WINOGRAD value naming no mode
// stops the run before training, and that 0 keeps a wide 3x3 head off
// Winograd.
func TestWinogradEnv(t *testing.T) {
	defer func(v string) { winoHeadEnv = v }(winoHeadEnv)
	wide := DefaultSpec(7, 7, 2048, 10)
	for _, c := range []struct {
		env  string
		err  bool
		wino bool
	}{{"", false, true}, {"1", false, true}, {"0", false, false}, {"yes", true, false}, {"4", true, false}} {
		winoHeadEnv = c.env
		_, err := CPUPrecision(PrecisionFP32, func() error { return nil })
		if (err != nil) != c.err || (err != nil && !strings.Contains(err.Error(), "GRAFT_HEAD_WINOGRAD")) {
			t.Errorf("GRAFT_HEAD_WINOGRAD=%q: %v", c.env, err)
		}
		if err == nil {
			if got := NewCPUOps().useWinograd(wide); got != c.wino {
				t.Errorf("GRAFT_HEAD_WINOGRAD=%q: Winograd %v, want %v", c.env, got, c.wino)
			}
		}
	}
	if bf, _ := NewCPUOpsAt(PrecisionBF16); bf != nil && bf.useWinograd(wide) {
		t.Error("bf16 head takes Winograd; it has no bf16 transforms")
	}
}

// TestWinogradPicksMaps checks the rule that keeps Winograd off maps where
// its tiles would not halve the taps' multiply-adds.
func TestWinogradPicksMaps(t *testing.T) {
	o := NewCPUOps()
	for _, c := range []struct {
		h, w, c, k int
		want       bool
	}{
		{7, 7, 2048, 3, true}, {7, 7, 1280, 3, true}, {14, 14, 512, 3, true}, {4, 4, 256, 3, true},
		{7, 7, 32, 3, false}, {7, 7, 2048, 5, false}, {1, 1, 2048, 3, false}, {5, 5, 2048, 3, false}, {3, 3, 2048, 3, false}, {6, 6, 512, 3, false},
	} {
		spec := Spec{Height: c.h, Width: c.w, Channels: c.c, Kind: KindConv, Filters: 256, Kernel: c.k, Classes: 10}
		if got := o.useWinograd(spec); got != c.want {
			t.Errorf("%dx%dx%d kernel %d: Winograd %v, want %v", c.h, c.w, c.c, c.k, got, c.want)
		}
	}
}

// TestCPUScratchBytesIsWhatTheHeapHolds checks CPUScratchBytes against
// the live heap that a CPUOps holds after a training step and an
// evaluation, on each way of convolving (runtime.MemStats after GC: the
// oracle the estimate must not be).
func TestCPUScratchBytesIsWhatTheHeapHolds(t *testing.T) {
	for _, c := range []struct {
		name string
		spec Spec
		way  string
	}{
		{"winograd", DefaultSpec(7, 7, 256, 10), ""},
		{"taps", DefaultSpec(7, 7, 256, 10), "taps"},
		{"im2col", DefaultSpec(7, 7, 32, 10), ""},
		{"linear", Spec{Height: 7, Width: 7, Channels: 256, Kind: KindLinear, Classes: 10}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.way != "" {
				defer convolveBy(c.way)()
			}
			const batch, eval = 32, 100
			gc := newGradCase(c.name, c.spec, eval, 3)
			host := NewCPUOps()
			params, grads := toF32(gc.params), make([]float32, len(gc.params))
			feats := toF32(gc.feats)
			idx := make([]int32, eval)
			for i := range idx {
				idx[i] = int32(i)
			}
			logits := make([]float32, eval*c.spec.Classes)
			heap := func() int64 {
				var m runtime.MemStats
				runtime.GC()
				runtime.GC() // the second empties the pools' victim caches
				runtime.ReadMemStats(&m)
				return int64(m.HeapAlloc)
			}
			before := heap()
			ops := NewCPUOps()
			if _, err := ops.GradientsWith(c.spec, cpuBuffer(params), cpuBuffer(feats), idx[:batch], gc.labels[:batch], cpuBuffer(grads), Extras{}); err != nil {
				t.Fatal(err)
			}
			if err := ops.Logits(c.spec, cpuBuffer(params), cpuBuffer(feats), idx, logits); err != nil {
				t.Fatal(err)
			}
			held := heap() - before
			runtime.KeepAlive(ops)
			runtime.KeepAlive(host)
			runtime.KeepAlive(gc)
			runtime.KeepAlive(params)
			runtime.KeepAlive(grads)
			runtime.KeepAlive(feats)
			runtime.KeepAlive(logits)
			want := CPUScratchBytes(c.spec, PrecisionFP32, batch, eval)
			t.Logf("%s: heap holds %d bytes, CPUScratchBytes %d", ops.ConvAlgorithm(c.spec), held, want)
			if diff := math.Abs(float64(held - want)); diff > 0.05*float64(want)+64<<10 {
				t.Errorf("heap holds %d bytes, CPUScratchBytes says %d", held, want)
			}
		})
	}
}
