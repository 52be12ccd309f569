//go:build graftcuda

package gpu

// These tests need an NVIDIA GPU. On a host without one the test binary
// prints "SKIP: GPU tests did not run: <reason>" and exits 3 before any
// test runs (see internal/cudainit): gorgonia.org/cu would otherwise exit
// the process from its init. The driver-independent logic is tested on
// every machine against the fake driver (fake_test.go).

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/graft-ml/graft/head"
)

// openGPU opens the GPU in the FP32 mode, the one the tests against the
// CPU at 1e-4 need; openGPUAt in another.
func openGPU(t testing.TB, budget int64) *CUDAOps {
	t.Helper()
	return openGPUAt(t, budget, PrecisionFP32)
}

func openGPUAt(t testing.TB, budget int64, prec Precision) *CUDAOps {
	t.Helper()
	ops, err := NewOps(Options{MemoryBudget: budget, Precision: prec})
	if errors.Is(err, ErrCUDA) && strings.Contains(err.Error(), "needs tensor cores") {
		t.Skipf("%s: %v", prec, err)
	}
	if err != nil {
		t.Fatalf("open the GPU: %v", err)
	}
	t.Cleanup(func() {
		if err := ops.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return ops
}

func TestDevices(t *testing.T) {
	list, err := Devices()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) == 0 {
		t.Fatal("no devices, yet the driver initialised")
	}
	for _, d := range list {
		if d.Name == "" || d.MemoryBytes <= 0 || d.Multiprocessors <= 0 || !strings.Contains(d.ComputeCapability, ".") {
			t.Errorf("implausible device %+v", d)
		}
		t.Logf("%s: %s, compute %s, %d SMs, %.1f GiB, driver %d", d.ID, d.Name, d.ComputeCapability, d.Multiprocessors, float64(d.MemoryBytes)/(1<<30), d.DriverVersion)
	}
}

type opsCase struct {
	name  string
	spec  head.Spec
	batch int
	// samples in the feature buffer; the batch draws from them by index,
	// out of order and with repeats.
	samples int
}

func opsCases() []opsCase {
	conv := func(h, w, c, f, k, classes int) head.Spec {
		return head.Spec{Height: h, Width: w, Channels: c, Kind: head.KindConv, Filters: f, Kernel: k, Classes: classes}
	}
	lin := func(h, w, c, classes int) head.Spec {
		return head.Spec{Height: h, Width: w, Channels: c, Kind: head.KindLinear, Classes: classes}
	}
	smooth := conv(4, 6, 5, 7, 3, 4)
	smooth.LabelSmoothing = 0.1
	return []opsCase{
		{"odd sizes", conv(5, 3, 7, 9, 3, 3), 6, 11},
		{"batch 1", conv(7, 7, 16, 32, 3, 10), 1, 3},
		{"batch 130 (not a multiple of 128 rows or 32 lanes)", conv(3, 3, 11, 130, 3, 5), 130, 140},
		{"kernel 1", conv(4, 4, 9, 17, 1, 2), 9, 9},
		{"kernel 5 wider than the image", conv(3, 2, 6, 12, 5, 3), 5, 8},
		{"1x1 image, 1 channel", conv(1, 1, 1, 1, 3, 2), 3, 4},
		{"many classes (more than a warp)", conv(2, 3, 4, 8, 3, 75), 20, 25},
		{"label smoothing", smooth, 17, 20},
		{"split-K forward (large K)", conv(7, 7, 512, 64, 3, 10), 4, 6},
		{"reference shape 7x7x2048->256->10", conv(7, 7, 2048, 256, 3, 10), 32, 40},
		{"linear probe", lin(7, 7, 37, 5), 13, 20},
		{"linear probe, batch 1", lin(1, 1, 3, 2), 1, 1},
	}
}

// setup fills a case with random features, labels, indices and
// parameters, and puts the same values on both devices.
func setup(t *testing.T, c opsCase, seed uint64, cpu head.Ops, gpu *CUDAOps) (idx, labels []int32, feats, params [2]head.Buffer) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 11))
	f := make([]float32, c.samples*c.spec.FeatureSize())
	for i := range f {
		f[i] = float32(rng.NormFloat64())
	}
	p := make([]float32, c.spec.Layout().Total)
	for i := range p {
		p[i] = float32(0.1 * rng.NormFloat64())
	}
	for range c.batch {
		idx = append(idx, int32(rng.IntN(c.samples)))
		labels = append(labels, int32(rng.IntN(c.spec.Classes)))
	}
	for i, ops := range []head.Ops{cpu, gpu} {
		var err error
		if feats[i], err = head.UploadFeatures(ops, c.spec, f); err != nil {
			t.Fatal(err)
		}
		if params[i], err = ops.Alloc(len(p)); err != nil {
			t.Fatal(err)
		}
		if err := ops.Upload(params[i], 0, p); err != nil {
			t.Fatal(err)
		}
	}
	return idx, labels, feats, params
}

func download(t *testing.T, ops head.Ops, b head.Buffer) []float32 {
	t.Helper()
	out := make([]float32, b.Len())
	if err := ops.Download(out, b, 0); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestOpsMatchCPU(t *testing.T) {
	gpu := openGPU(t, 0)
	for i, c := range opsCases() {
		t.Run(c.name, func(t *testing.T) {
			cpu := head.NewCPUOps()
			idx, labels, feats, params := setup(t, c, uint64(i+1), cpu, gpu)
			defer gpu.Free(feats[1])
			defer gpu.Free(params[1])

			// Forward.
			var logits [2][]float32
			for d, ops := range []head.Ops{cpu, gpu} {
				logits[d] = make([]float32, len(idx)*c.spec.Classes)
				if err := ops.Logits(c.spec, params[d], feats[d], idx, logits[d]); err != nil {
					t.Fatal(err)
				}
			}
			if e := relErr(logits[1], logits[0]); e > 1e-4 {
				t.Errorf("logits: relative error %.2g", e)
			}
			// The device's ReLU mask, for the gradients' reference: the
			// forward pass left the activations (after ReLU) in "act".
			var mask []bool
			if c.spec.Kind == head.KindConv {
				mask = deviceMask(t, gpu, len(idx)*c.spec.Height*c.spec.Width*c.spec.Filters)
			}

			// Forward and backward.
			var st [2]head.Stats
			var grads [2][]float32
			for d, ops := range []head.Ops{cpu, gpu} {
				g, err := ops.Alloc(c.spec.Layout().Total)
				if err != nil {
					t.Fatal(err)
				}
				if st[d], err = ops.Gradients(c.spec, params[d], feats[d], idx, labels, g); err != nil {
					t.Fatal(err)
				}
				grads[d] = download(t, ops, g)
				ops.Free(g)
			}
			if st[1].Count != st[0].Count || st[1].Correct != st[0].Correct {
				t.Errorf("stats: gpu %+v, cpu %+v", st[1], st[0])
			}
			if e := math.Abs(st[1].Loss-st[0].Loss) / max(math.Abs(st[0].Loss), 1e-6); e > 1e-4 {
				t.Errorf("loss: gpu %v, cpu %v (relative error %.2g)", st[1].Loss, st[0].Loss, e)
			}
			// Gradients against the float64 reference on the device's own
			// ReLU mask: the CPU's may differ in a unit whose pre-activation
			// is within rounding of zero (about 7% of seeds at the reference
			// shape), which moves the conv kernel's gradient by ~3e-2.
			ref := refGradients(c.spec, download(t, cpu, feats[0]), idx, labels, download(t, cpu, params[0]), mask)
			for _, tn := range c.spec.Layout().Tensors {
				got := grads[1][tn.Offset : tn.Offset+tn.Size]
				if e := relErr(got, ref[tn.Offset:tn.Offset+tn.Size]); e > 1e-4 {
					t.Errorf("gradient of %s: relative error %.2g against the float64 reference on the device's ReLU mask", tn.Name, e)
				}
			}
		})
	}
}

// deviceMask reads the conv's activations of the last forward pass off
// the device: true where the ReLU let the unit through.
func deviceMask(t *testing.T, gpu *CUDAOps, n int) []bool {
	t.Helper()
	act := make([]float32, n)
	if err := gpu.ctx.Do(func() error { return gpu.ctx.CopyDtoH(bytesOf(act), gpu.scratch["act"].ptr) }); err != nil {
		t.Fatal(err)
	}
	mask := make([]bool, n)
	for i, v := range act {
		mask[i] = v > 0
	}
	return mask
}

func optimizers(t *testing.T) []head.Optimizer {
	var list []head.Optimizer
	for _, name := range []string{head.Adam, head.AdamW, head.SGD} {
		o, err := head.NewOptimizer(name)
		if err != nil {
			t.Fatal(err)
		}
		list = append(list, o)
	}
	plain, nesterov := list[2], list[2]
	plain.Momentum = 0
	nesterov.Nesterov = true
	decayed := list[2]
	decayed.WeightDecay = 0.01
	return append(list, plain, nesterov, decayed)
}

func TestUpdateMatchesCPU(t *testing.T) {
	gpu := openGPU(t, 0)
	spec := head.Spec{Height: 3, Width: 3, Channels: 5, Kind: head.KindConv, Filters: 7, Kernel: 3, Classes: 3}
	lay := spec.Layout()
	for _, opt := range optimizers(t) {
		t.Run(fmt.Sprintf("%s momentum %g nesterov %v decay %g", opt.Name, opt.Momentum, opt.Nesterov, opt.WeightDecay), func(t *testing.T) {
			cpu := head.NewCPUOps()
			rng := rand.New(rand.NewPCG(5, 5))
			p0 := make([]float32, lay.Total)
			for i := range p0 {
				p0[i] = float32(rng.NormFloat64())
			}
			var p, g [2]head.Buffer
			var slots [2][]head.Buffer
			for d, ops := range []head.Ops{cpu, gpu} {
				var err error
				if p[d], err = ops.Alloc(lay.Total); err != nil {
					t.Fatal(err)
				}
				if err := ops.Upload(p[d], 0, p0); err != nil {
					t.Fatal(err)
				}
				if g[d], err = ops.Alloc(lay.Total); err != nil {
					t.Fatal(err)
				}
				for range opt.Slots() {
					s, err := ops.Alloc(lay.Total)
					if err != nil {
						t.Fatal(err)
					}
					slots[d] = append(slots[d], s)
				}
			}
			grad := make([]float32, lay.Total)
			for step := 1; step <= 5; step++ {
				for i := range grad {
					grad[i] = float32(rng.NormFloat64())
				}
				for d, ops := range []head.Ops{cpu, gpu} {
					if err := ops.Upload(g[d], 0, grad); err != nil {
						t.Fatal(err)
					}
					if err := ops.Update(opt, lay, step, p[d], g[d], slots[d]); err != nil {
						t.Fatal(err)
					}
				}
			}
			if e := relErr(download(t, gpu, p[1]), download(t, cpu, p[0])); e > 1e-5 {
				t.Errorf("parameters after 5 steps: relative error %.2g", e)
			}
			for i := range slots[0] {
				if e := relErr(download(t, gpu, slots[1][i]), download(t, cpu, slots[0][i])); e > 1e-5 {
					t.Errorf("slot %d after 5 steps: relative error %.2g", i, e)
				}
			}
			for _, b := range append([]head.Buffer{p[1], g[1]}, slots[1]...) {
				gpu.Free(b)
			}
		})
	}
}

// TestTrainingMatchesCPU trains the same head from the same seed for 3
// epochs on both devices (same shuffles, a partial last batch) and
// compares the weights.
//
// In the tensor-core modes (a conv head with 16 channels, so that they
// run) the weights drift apart by design; the run must still learn what
// the CPU's learns: last-epoch loss within 5% and accuracy within 5
// points.
func TestTrainingMatchesCPU(t *testing.T) {
	for _, c := range []struct {
		prec Precision
		kind head.Kind
	}{{PrecisionFP32, head.KindConv}, {PrecisionFP32, head.KindLinear}, {PrecisionTF32, head.KindConv}, {PrecisionBF16, head.KindConv}} {
		t.Run(string(c.prec)+"/"+string(c.kind), func(t *testing.T) {
			gpu, kind := openGPUAt(t, 0, c.prec), c.kind
			spec := head.Spec{Height: 5, Width: 5, Channels: 16, Kind: kind, Filters: 24, Kernel: 3, Classes: 4}
			if gpu.Precision(spec) != c.prec && kind == head.KindConv {
				t.Fatalf("spec %+v runs at %s, want %s", spec, gpu.Precision(spec), c.prec)
			}
			const n, batch, epochs = 90, 16, 3
			rng := rand.New(rand.NewPCG(3, 3))
			feats := make([]float32, n*spec.FeatureSize())
			labels := make([]int32, n)
			for i := range labels {
				labels[i] = int32(rng.IntN(spec.Classes))
				x := feats[i*spec.FeatureSize() : (i+1)*spec.FeatureSize()]
				for j := range x {
					x[j] = float32(0.5 * rng.NormFloat64())
				}
				x[int(labels[i])] += 2 // a learnable signal
			}
			opt, _ := head.NewOptimizer(head.Adam)
			var params [2][]float32
			var last [2]head.Stats
			for d, ops := range []head.Ops{head.NewCPUOps(), gpu} {
				m, err := head.New(ops, spec, opt, 42)
				if err != nil {
					t.Fatal(err)
				}
				buf, err := head.UploadFeatures(ops, spec, feats)
				if err != nil {
					t.Fatal(err)
				}
				for range epochs {
					order := m.Shuffle(n)
					last[d] = head.Stats{}
					for lo := 0; lo < n; lo += batch {
						idx := order[lo:min(lo+batch, n)]
						lab := make([]int32, len(idx))
						for i, s := range idx {
							lab[i] = labels[s]
						}
						st, err := m.TrainBatch(buf, idx, lab)
						if err != nil {
							t.Fatal(err)
						}
						last[d].Add(st)
					}
				}
				if params[d], err = m.Params(); err != nil {
					t.Fatal(err)
				}
				m.Close()
				ops.Free(buf)
			}
			t.Logf("last epoch: cpu loss %.4f acc %d/%d, gpu loss %.4f acc %d/%d",
				last[0].Loss/float64(n), last[0].Correct, n, last[1].Loss/float64(n), last[1].Correct, n)
			if c.prec != PrecisionFP32 {
				if dl := math.Abs(last[1].Loss-last[0].Loss) / last[0].Loss; dl > 0.05 || math.Abs(float64(last[1].Correct-last[0].Correct)) > 0.05*n {
					t.Errorf("%s: last epoch loss %.4f (cpu %.4f), correct %d (cpu %d) of %d", c.prec, last[1].Loss/n, last[0].Loss/n, last[1].Correct, last[0].Correct, n)
				}
				return
			}
			for _, tn := range spec.Layout().Tensors {
				if e := relErr(params[1][tn.Offset:tn.Offset+tn.Size], params[0][tn.Offset:tn.Offset+tn.Size]); e > 1e-3 {
					t.Errorf("%s after %d epochs: relative error %.2g", tn.Name, epochs, e)
				}
			}
		})
	}
}

func TestOutOfMemoryNamesTheBudget(t *testing.T) {
	const budget = 1 << 20
	gpu := openGPU(t, budget)
	small, err := gpu.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer gpu.Free(small)
	_, err = gpu.Alloc(budget / 4 * 2) // 2 MiB of floats: over the budget
	if !errors.Is(err, ErrOutOfMemory) {
		t.Fatalf("allocation over the budget: %v, want ErrOutOfMemory", err)
	}
	for _, want := range []string{strconv.Itoa(budget), strconv.Itoa(budget / 4 * 2 * 4), "budget"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	// A head whose features do not fit fails the same way, not with a crash.
	spec := head.DefaultSpec(7, 7, 2048, 10)
	if _, err := head.UploadFeatures(gpu, spec, make([]float32, 4*spec.FeatureSize())); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("features over the budget: %v", err)
	}
	// The device itself refusing (a budget larger than the GPU) is ErrOutOfMemory too.
	huge := openGPU(t, 1<<62)
	if _, err := huge.Alloc(1 << 60); !errors.Is(err, ErrOutOfMemory) {
		t.Errorf("allocation larger than the device: %v, want ErrOutOfMemory", err)
	} else {
		t.Log(err)
	}
}

func TestBadInput(t *testing.T) {
	gpu := openGPU(t, 0)
	spec := head.Spec{Height: 2, Width: 2, Channels: 3, Kind: head.KindConv, Filters: 4, Kernel: 3, Classes: 2}
	feats, err := head.UploadFeatures(gpu, spec, make([]float32, 2*spec.FeatureSize()))
	if err != nil {
		t.Fatal(err)
	}
	params, _ := gpu.Alloc(spec.Layout().Total)
	grads, _ := gpu.Alloc(spec.Layout().Total)
	host, _ := head.NewCPUOps().Alloc(spec.Layout().Total)
	for name, call := range map[string]func() error{
		"index out of range": func() error {
			_, err := gpu.Gradients(spec, params, feats, []int32{0, 2}, []int32{0, 1}, grads)
			return err
		},
		"label out of range": func() error {
			_, err := gpu.Gradients(spec, params, feats, []int32{0, 1}, []int32{0, 2}, grads)
			return err
		},
		"empty batch": func() error { return gpu.Logits(spec, params, feats, nil, nil) },
		"upload past the end": func() error {
			return gpu.Upload(params, spec.Layout().Total-1, []float32{1, 2})
		},
	} {
		if err := call(); !errors.Is(err, head.ErrShape) {
			t.Errorf("%s: %v, want head.ErrShape", name, err)
		}
	}
	if _, err := gpu.Gradients(spec, host, feats, []int32{0}, []int32{0}, grads); err == nil || !strings.Contains(err.Error(), "not allocated by") {
		t.Errorf("host buffer passed to the GPU: %v", err)
	}
}

// BenchmarkTrainStep times one training step (forward, backward, Adam)
// of the reference head, 7x7x2048 -> 256 -> 10, at batch 32 and 256, in
// each precision.
func BenchmarkTrainStep(b *testing.B) {
	for _, prec := range []Precision{PrecisionTF32, PrecisionBF16, PrecisionFP32} {
		gpu := openGPUAt(b, 0, prec)
		for _, batch := range []int{32, 256} {
			benchStep(b, gpu, prec, batch)
		}
	}
}

func benchStep(b *testing.B, gpu *CUDAOps, prec Precision, batch int) {
	b.Run(fmt.Sprintf("%s/batch%d", prec, batch), func(b *testing.B) {
		spec := head.DefaultSpec(7, 7, 2048, 10)
		opt, _ := head.NewOptimizer(head.Adam)
		m, err := head.New(gpu, spec, opt, 1)
		if err != nil {
			b.Fatal(err)
		}
		defer m.Close()
		rng := rand.New(rand.NewPCG(1, 1))
		host := make([]float32, batch*spec.FeatureSize())
		for i := range host {
			host[i] = float32(rng.NormFloat64())
		}
		feats, err := head.UploadFeatures(gpu, spec, host)
		if err != nil {
			b.Fatal(err)
		}
		defer gpu.Free(feats)
		idx, labels := make([]int32, batch), make([]int32, batch)
		for i := range idx {
			idx[i], labels[i] = int32(i), int32(i%spec.Classes)
		}
		if _, err := m.TrainBatch(feats, idx, labels); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := m.TrainBatch(feats, idx, labels); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		secs := b.Elapsed().Seconds() / float64(b.N)
		b.ReportMetric(secs*1e3, "ms/step")
		b.ReportMetric(spec.StepFLOPs(batch)/secs/1e12, "TFLOP/s")
	})
}

// TestTensorCoreGEMMsWithinBound checks the tensor-core kernels on the GPU
// against float64 with ErrorBound, output by output: the forward's
// activations (read off the device after Logits) against the exact
// pre-activations after ReLU, and the conv kernel's gradient against the
// exact products of the features with the device's own dZ (read back after
// Gradients, where unpool_relu left it in place of the activations).
func TestTensorCoreGEMMsWithinBound(t *testing.T) {
	conv := func(h, w, c, f, k, classes int) head.Spec {
		return head.Spec{Height: h, Width: w, Channels: c, Kind: head.KindConv, Filters: f, Kernel: k, Classes: classes}
	}
	cases := []opsCase{
		{"16 channels, 12 filters: partial tiles", conv(5, 3, 16, 12, 3, 3), 6, 11},
		{"batch 130, 132 filters", conv(3, 3, 32, 132, 3, 5), 130, 140},
		{"kernel 5 wider than the image", conv(3, 2, 16, 4, 5, 3), 5, 8},
		{"split-K forward (large K)", conv(7, 7, 512, 64, 3, 10), 4, 6},
		{"reference shape 7x7x2048->256->10", conv(7, 7, 2048, 256, 3, 10), 32, 40},
	}
	for _, prec := range []Precision{PrecisionTF32, PrecisionBF16} {
		gpu := openGPUAt(t, 0, prec)
		for i, c := range cases {
			t.Run(string(prec)+"/"+c.name, func(t *testing.T) {
				if gpu.Precision(c.spec) != prec {
					t.Fatalf("runs at %s", gpu.Precision(c.spec))
				}
				cpu := head.NewCPUOps()
				idx, labels, feats, params := setup(t, c, uint64(i+1), cpu, gpu)
				defer gpu.Free(feats[1])
				defer gpu.Free(params[1])
				x, p := download(t, cpu, feats[0]), download(t, cpu, params[0])
				s := c.spec
				hw, kdim, rows := s.Height*s.Width, s.Kernel*s.Kernel*s.Channels, len(idx)*s.Height*s.Width
				lay := s.Layout()
				ck, _ := lay.Find(head.ConvKernel)
				cb, _ := lay.Find(head.ConvBias)
				// im2col walks the exact terms of both GEMMs.
				im2col := func(r int, fn func(kk int, v float64)) {
					b, px := r/hw, r%hw
					y, xx := px/s.Width, px%s.Width
					base := int(idx[b]) * s.FeatureSize()
					for dy := range s.Kernel {
						for dx := range s.Kernel {
							sy, sx := y+dy-s.Kernel/2, xx+dx-s.Kernel/2
							if sy < 0 || sy >= s.Height || sx < 0 || sx >= s.Width {
								continue
							}
							for ch := range s.Channels {
								fn((dy*s.Kernel+dx)*s.Channels+ch, float64(x[base+(sy*s.Width+sx)*s.Channels+ch]))
							}
						}
					}
				}
				out := make([]float32, len(idx)*s.Classes)
				if err := gpu.Logits(s, params[1], feats[1], idx, out); err != nil {
					t.Fatal(err)
				}
				act := deviceFloats(t, gpu, "act", rows*s.Filters)
				bound, worst := ErrorBound(prec, kdim), 0.0
				for r := range rows {
					v, a := make([]float64, s.Filters), make([]float64, s.Filters)
					for f := range s.Filters {
						v[f], a[f] = float64(p[cb.Offset+f]), math.Abs(float64(p[cb.Offset+f]))
					}
					im2col(r, func(kk int, xv float64) {
						for f := range s.Filters {
							w := float64(p[ck.Offset+kk*s.Filters+f])
							v[f] += xv * w
							a[f] += math.Abs(xv * w)
						}
					})
					for f := range s.Filters {
						worst = max(worst, math.Abs(float64(act[r*s.Filters+f])-max(v[f], 0))/max(a[f], 1e-30))
					}
				}
				if worst > bound {
					t.Errorf("forward: error %.3g x S, the bound is %.3g", worst, bound)
				}
				t.Logf("forward: worst error %.3g of the bound", worst/bound)

				g, err := gpu.Alloc(lay.Total)
				if err != nil {
					t.Fatal(err)
				}
				defer gpu.Free(g)
				if _, err := gpu.Gradients(s, params[1], feats[1], idx, labels, g); err != nil {
					t.Fatal(err)
				}
				dz := deviceFloats(t, gpu, "act", rows*s.Filters)
				dw := download(t, gpu, g)[ck.Offset : ck.Offset+ck.Size]
				v, a := make([]float64, kdim*s.Filters), make([]float64, kdim*s.Filters)
				for r := range rows {
					im2col(r, func(kk int, xv float64) {
						for f := range s.Filters {
							d := float64(dz[r*s.Filters+f])
							v[kk*s.Filters+f] += xv * d
							a[kk*s.Filters+f] += math.Abs(xv * d)
						}
					})
				}
				bound, worst = ErrorBound(prec, rows), 0
				for i := range v {
					worst = max(worst, math.Abs(float64(dw[i])-v[i])/max(a[i], 1e-30))
				}
				if worst > bound {
					t.Errorf("weight gradient: error %.3g x S, the bound is %.3g", worst, bound)
				}
				t.Logf("weight gradient: worst error %.3g of the bound", worst/bound)
			})
		}
	}
}

// deviceFloats reads n floats of a scratch buffer off the device.
func deviceFloats(t *testing.T, gpu *CUDAOps, name string, n int) []float32 {
	t.Helper()
	out := make([]float32, n)
	if err := gpu.ctx.Do(func() error { return gpu.ctx.CopyDtoH(bytesOf(out), gpu.scratch[name].ptr) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Issue 27: a NaN in the features or in the conv kernel stops a training
// step on the GPU with head.ErrNonFinite, as on the CPU, in every
// precision: the TF32 rounding keeps it (cvt.rna), the fused ReLU too.
// The features are uploaded with Upload, past UploadFeatures' check, as
// features computed on the device would be.
func TestNaNStopsTheStepLikeTheCPU(t *testing.T) {
	spec := head.Spec{Height: 5, Width: 3, Channels: 16, Kind: head.KindConv, Filters: 12, Kernel: 3, Classes: 3}
	const samples = 4
	rng := rand.New(rand.NewPCG(27, 1))
	feats := make([]float32, samples*spec.FeatureSize())
	for i := range feats {
		feats[i] = float32(rng.NormFloat64())
	}
	params := make([]float32, spec.Layout().Total)
	for i := range params {
		params[i] = 0.1 * float32(rng.NormFloat64())
	}
	conv, _ := spec.Layout().Find(head.ConvKernel)
	nan := math.Float32frombits(0x7fffffff) // CUDA's canonical NaN
	for _, c := range []struct {
		name   string
		plant  func(f, p []float32)
		sample int32
	}{
		{"NaN feature", func(f, _ []float32) { f[spec.FeatureSize()+7] = nan }, 1},
		{"NaN conv weight", func(_, p []float32) { p[conv.Offset+5] = nan }, 0},
	} {
		f, p := append([]float32(nil), feats...), append([]float32(nil), params...)
		c.plant(f, p)
		step := func(t *testing.T, ops head.Ops) error {
			fb, err := ops.Alloc(len(f))
			if err != nil {
				t.Fatal(err)
			}
			defer ops.Free(fb)
			pb, _ := ops.Alloc(len(p))
			defer ops.Free(pb)
			gb, _ := ops.Alloc(len(p))
			defer ops.Free(gb)
			if err := ops.Upload(fb, 0, f); err != nil {
				t.Fatal(err)
			}
			if err := ops.Upload(pb, 0, p); err != nil {
				t.Fatal(err)
			}
			_, err = ops.Gradients(spec, pb, fb, []int32{c.sample, 2}, []int32{0, 1}, gb)
			return err
		}
		if err := step(t, head.NewCPUOps()); !errors.Is(err, head.ErrNonFinite) {
			t.Fatalf("%s on the CPU: %v, want ErrNonFinite", c.name, err)
		}
		for _, prec := range []Precision{PrecisionFP32, PrecisionTF32, PrecisionBF16} {
			t.Run(c.name+"/"+string(prec), func(t *testing.T) {
				if err := step(t, openGPUAt(t, 0, prec)); !errors.Is(err, head.ErrNonFinite) {
					t.Errorf("%v, want ErrNonFinite as on the CPU", err)
				}
			})
		}
	}
}
