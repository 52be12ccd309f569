package train

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/safetensors"
	"github.com/graft-ml/graft/internal/util/threads"
)

const fashionCNN = "../../../testdata/models/fashion_cnn"

// smallConfig trains on a few MNIST digits with the Fashion-MNIST backbone.
func smallConfig(t *testing.T, data string, epochs int) Config {
	return Config{Backbone: fashionCNN, Tap: "conv2d_2", Data: data, Preprocess: "unit", Head: "conv:16",
		Epochs: epochs, BatchSize: 16, Seed: 3, CacheDir: t.TempDir(), Out: filepath.Join(t.TempDir(), "run")}
}

func params(t *testing.T, path string) []float32 {
	t.Helper()
	m, _, err := head.Load(head.NewCPUOps(), path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := m.Params()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func equalParams(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d parameters", what, len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("%s: parameter %d differs: %v vs %v", what, i, a[i], b[i])
		}
	}
}

// batchParams is equalParams for runs whose features were extracted in
// other batches: the same bits with graft's GEMM; with OpenBLAS, whose
// blocking follows the matrix size (gemm.BatchInvariant), within float
// rounding carried through training.
func batchParams(t *testing.T, what string, a, b []float32) {
	t.Helper()
	if gemm.BatchInvariant {
		equalParams(t, what, a, b)
		return
	}
	if len(a) != len(b) {
		t.Fatalf("%s: %d vs %d parameters", what, len(a), len(b))
	}
	for i := range a {
		if d := math.Abs(float64(a[i] - b[i])); d > 1e-4*(1+math.Abs(float64(b[i]))) {
			t.Fatalf("%s: parameter %d differs: %v vs %v (%s GEMM)", what, i, a[i], b[i], gemm.Backend)
		}
	}
}

// stripTime drops the wall-clock field so runs can be compared.
func stripTime(ms []rundir.Metrics) []rundir.Metrics {
	out := append([]rundir.Metrics(nil), ms...)
	for i := range out {
		out[i].Seconds = 0
	}
	return out
}

func TestResumeEqualsUninterruptedAndSeedsRepeat(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 12)
	ctx := context.Background()

	straight := smallConfig(t, data, 4)
	if _, err := Run(ctx, straight, Options{}); err != nil {
		t.Fatal(err)
	}
	again := smallConfig(t, data, 4)
	if _, err := Run(ctx, again, Options{}); err != nil {
		t.Fatal(err)
	}

	// Interrupted after epoch 2 (a cancelled context stops the third),
	// then resumed.
	cut := smallConfig(t, data, 4)
	cctx, cancel := context.WithCancel(ctx)
	_, err := Run(cctx, cut, Options{Progress: func(e Event) {
		if e.Kind == "epoch" && e.Epoch == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if ms, _ := rundir.ReadMetrics(cut.Out); len(ms) != 2 {
		t.Fatalf("interrupted run recorded %d epochs, want 2", len(ms))
	}
	if _, err := Run(ctx, Config{Out: cut.Out}, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}

	want := params(t, filepath.Join(straight.Out, rundir.LastCkpt))
	equalParams(t, "resumed vs uninterrupted", params(t, filepath.Join(cut.Out, rundir.LastCkpt)), want)
	equalParams(t, "same seed twice", params(t, filepath.Join(again.Out, rundir.LastCkpt)), want)

	a, _ := rundir.ReadMetrics(straight.Out)
	b, _ := rundir.ReadMetrics(again.Out)
	c, _ := rundir.ReadMetrics(cut.Out)
	if len(a) != 4 {
		t.Fatalf("%d epochs of metrics", len(a))
	}
	for i := range a {
		if stripTime(a)[i] != stripTime(b)[i] || stripTime(a)[i] != stripTime(c)[i] {
			t.Errorf("epoch %d metrics differ:\n%+v\n%+v\n%+v", i+1, a[i], b[i], c[i])
		}
	}
}

func TestSecondRunHitsTheCache(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 5)
	first := smallConfig(t, data, 1)
	s1, err := Run(context.Background(), first, Options{})
	if err != nil {
		t.Fatal(err)
	}
	second := smallConfig(t, data, 1)
	second.CacheDir = first.CacheDir
	s2, err := Run(context.Background(), second, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s1.CacheHits != 0 || s1.CacheComputed != 50 || s2.CacheHits != 50 || s2.CacheComputed != 0 || s2.Timing.BackboneSeconds != 0 {
		t.Errorf("first run: %d hits, %d computed; second: %d hits, %d computed, backbone %.3fs",
			s1.CacheHits, s1.CacheComputed, s2.CacheHits, s2.CacheComputed, s2.Timing.BackboneSeconds)
	}
	// Another tap is another cache namespace.
	third := smallConfig(t, data, 1)
	third.CacheDir, third.Tap = first.CacheDir, "max_pooling2d_1"
	if s3, err := Run(context.Background(), third, Options{}); err != nil || s3.CacheHits != 0 {
		t.Errorf("other tap: %v, %d hits", err, s3.CacheHits)
	}
}

func TestStreamingEqualsResident(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	resident := smallConfig(t, data, 2)
	if _, err := Run(context.Background(), resident, Options{}); err != nil {
		t.Fatal(err)
	}
	streamed := smallConfig(t, data, 2)
	streamed.MemoryBudget = 1 // every feature streams from the cache
	if _, err := Run(context.Background(), streamed, Options{}); err != nil {
		t.Fatal(err)
	}
	batchParams(t, "streamed vs resident", params(t, filepath.Join(streamed.Out, rundir.LastCkpt)), params(t, filepath.Join(resident.Out, rundir.LastCkpt)))

	streamed.CacheDir, streamed.Out = "none", filepath.Join(t.TempDir(), "run")
	if _, err := Run(context.Background(), streamed, Options{}); err == nil || !adviceOnly(err, "--memory-budget") {
		t.Errorf("over budget without cache: %v", err)
	}
}

// adviceOnly reports whether err carries the command-line advice as a
// hint, for the CLI to print, while its text (what the daemon's API
// answers carry) names no flag.
func adviceOnly(err error, advice string) bool {
	return strings.Contains(strings.Join(hint.All(err), "\n"), advice) && !strings.Contains(err.Error(), "--")
}

func TestDiskFullKeepsLastCheckpoint(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	cfg := smallConfig(t, data, 3)
	saves := 0
	full := func(m *head.Model, path string, classes []string, st json.RawMessage) error {
		if strings.HasSuffix(path, "last.safetensors") {
			saves++
			if saves == 2 {
				return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
		}
		return m.Save(path, classes, st)
	}
	_, err := Run(context.Background(), cfg, Options{save: full})
	if !errors.Is(err, syscall.ENOSPC) || !adviceOnly(err, "--resume") || !strings.Contains(err.Error(), "epoch 1's checkpoint is intact") {
		t.Fatalf("disk full: %v", err)
	}
	_, ck, err := head.Load(head.NewCPUOps(), filepath.Join(cfg.Out, rundir.LastCkpt))
	if err != nil {
		t.Fatalf("the completed checkpoint was lost: %v", err)
	}
	var st state
	json.Unmarshal(ck.Trainer, &st)
	if st.Epoch != 1 {
		t.Errorf("last checkpoint is epoch %d, want 1", st.Epoch)
	}
	if ms, _ := rundir.ReadMetrics(cfg.Out); len(ms) != 1 {
		t.Errorf("metrics has %d epochs, want the 1 that was checkpointed", len(ms))
	}
	// Space freed: the run resumes and completes.
	if s, err := Run(context.Background(), Config{Out: cfg.Out}, Options{Resume: true}); err != nil || s.Epochs != 3 {
		t.Errorf("resume after disk full: %v %+v", err, s)
	}
}

func TestDivergenceStopsWithAdvice(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	cfg := smallConfig(t, data, 3)
	cfg.Optimizer, cfg.LR, cfg.Momentum = "sgd", 1e37, 0.9
	_, err := Run(context.Background(), cfg, Options{})
	if !errors.Is(err, head.ErrNonFinite) || !adviceOnly(err, "lower --lr") {
		t.Fatalf("divergence: %v", err)
	}
}

func TestEarlyStoppingAndSchedules(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	cfg := smallConfig(t, data, 30)
	cfg.EarlyStopping, cfg.Monitor, cfg.MinDelta = 2, "val_accuracy", 0.5 // nothing improves by 0.5
	s, err := Run(context.Background(), cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !s.StoppedEarly || s.Epochs != 3 || s.BestEpoch != 1 {
		t.Errorf("early stopping: %+v", s)
	}

	cfg = smallConfig(t, data, 4)
	cfg.Schedule, cfg.LR = "cosine", 0.01
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	ms, _ := rundir.ReadMetrics(cfg.Out)
	for i, m := range ms {
		want := 0.01 * 0.5 * (1 + math.Cos(math.Pi*float64(i)/4))
		if math.Abs(m.LR-want) > 1e-9 {
			t.Errorf("cosine epoch %d: lr %v, want %v", i+1, m.LR, want)
		}
	}
}

func TestRunDirectoryContents(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	cfg := smallConfig(t, data, 2)
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{rundir.ConfigFile, rundir.ClassesFile, rundir.MetricsFile, rundir.SummaryFile, rundir.HeadFile, rundir.LastCkpt, rundir.BestCkpt} {
		if _, err := os.Stat(filepath.Join(cfg.Out, f)); err != nil {
			t.Errorf("missing %s", f)
		}
	}
	ev, _ := filepath.Glob(filepath.Join(cfg.Out, rundir.EventsDir, "events.out.tfevents.*"))
	if len(ev) != 1 {
		t.Fatalf("event files %v", ev)
	}
	// The event file holds config.json as a text summary, a seconds
	// scalar and per-class validation scores per epoch (TensorBoard's own reader checks them field by
	// field in clients/python/tests/test_tensorboard.py).
	evb, err := os.ReadFile(ev[0])
	if err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile(filepath.Join(cfg.Out, rundir.ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]byte{bytes.TrimSpace(conf), []byte("\n\x04text"), []byte("\n\x07seconds"), []byte("\n\x0fval_precision/0")} {
		if !bytes.Contains(evb, want) {
			t.Errorf("event file lacks %q", want)
		}
	}
	var classes []string
	rundir.ReadJSON(cfg.Out, rundir.ClassesFile, &classes)
	if len(classes) != 10 || classes[0] != "0" {
		t.Errorf("classes %v", classes)
	}
	// head.safetensors is the best epoch's head without optimizer state.
	raw, err := os.ReadFile(filepath.Join(cfg.Out, rundir.HeadFile))
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	for name := range f.Tensors {
		if strings.HasPrefix(name, "optimizer/") {
			t.Errorf("%s holds optimizer tensor %s", rundir.HeadFile, name)
		}
	}
	equalParams(t, rundir.HeadFile, params(t, filepath.Join(cfg.Out, rundir.HeadFile)), params(t, filepath.Join(cfg.Out, rundir.BestCkpt)))
	// config.json records the effective learning rate, not 0.
	var rec map[string]any
	rundir.ReadJSON(cfg.Out, rundir.ConfigFile, &rec)
	if rec["lr"] != 0.001 || rec["seed"] != 3.0 {
		t.Errorf("config.json lr %v seed %v, want 0.001 and 3", rec["lr"], rec["seed"])
	}
	// A second run into the same directory is refused.
	if _, err := Run(context.Background(), cfg, Options{}); !errors.Is(err, rundir.ErrRunDir) || !adviceOnly(err, "--resume") {
		t.Errorf("reusing a run directory: %v", err)
	}
}

// smallDevice is the CPU with little memory: allocations above limit
// floats fail as a GPU's would.
type smallDevice struct {
	*head.CPUOps
	limit int
}

func (d smallDevice) Alloc(n int) (head.Buffer, error) {
	if n > d.limit {
		return nil, fmt.Errorf("%w: %d floats over a budget of %d", head.ErrOutOfMemory, n, d.limit)
	}
	return d.CPUOps.Alloc(n)
}

func TestFeaturesOverTheDeviceStream(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	resident := smallConfig(t, data, 2)
	if _, err := Run(context.Background(), resident, Options{}); err != nil {
		t.Fatal(err)
	}
	small := smallConfig(t, data, 2)
	// Room for the parameters and a batch, not for 48 samples of 7x7x64.
	if _, err := Run(context.Background(), small, Options{Ops: smallDevice{head.NewCPUOps(), 16 * 7 * 7 * 64}}); err != nil {
		t.Fatal(err)
	}
	equalParams(t, "streamed to a small device vs resident", params(t, filepath.Join(small.Out, rundir.LastCkpt)), params(t, filepath.Join(resident.Out, rundir.LastCkpt)))
}

func TestFootprintByHand(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 3) // 30 images
	cfg, err := job.FromRecord(smallConfig(t, data, 1))
	if err != nil {
		t.Fatal(err)
	}
	f, err := EstimateFootprint(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// conv2d_2 is 7x7x64; head conv:16 with 3x3 kernels, 10 classes:
	// 3*3*64*16 + 16*10 + 16 + 10 = 9402 parameters, times 4 (parameters,
	// gradients, Adam's two moments), 4 bytes each.
	const perSample = 7 * 7 * 64 * 4
	// Scratch of training at batch 16 and evaluation at 30 (all samples),
	// each buffer rounded up to 512 bytes: indices 30*4 (training's 16
	// indices and 16 labels in one: 16*8), losses and correct counts side
	// by side 16*16, pooled 30*16*4, its gradient
	// and the bias sums 16*16*4 each, logits 30*10*4, their gradient
	// 16*10*4, activations 30*49*16*4 = 94080; the split-K workspace at
	// most 2 forward splits at batch 30 (72 steps of 8 over the 576-long
	// reduction, slices of at least 32 steps): 2*30*49*16*4 = 188160
	// (the weight gradient's 3 splits of 576x16 take less). Plus two
	// batches (double buffers) of training and of validation features
	// streamed.
	gpuScratch := int64(2*512 + 2048 + 2*1024 + 1536 + 1024 + 94208 + 188416)
	// On the CPU the head runs Winograd (64 channels, a 7x7 map): 4 tiles
	// of 36 values an image, forward at 30 samples (Logits' chunk of 64
	// holds them all). Activations 30*49*16*4, pooled and its gradient
	// 2*30*16*4, logits and theirs 2*30*10*4, V 36*4*30*64*4, M
	// 36*4*30*16*4, dU 36*64*16*4, and U packed, 36 times 64x16.
	cpuScratch := int64(94080+3840+2400+1105920+276480+147456) + 36*gemm.PackedBytes(64, 16)
	if gemm.PackedBytes(64, 16) == 0 { // no packed kernel: U as it is
		cpuScratch += 36 * 64 * 16 * 4
	}
	scratch := max(gpuScratch, cpuScratch) + 2*(16+30)*perSample
	// The extraction, all 30 images in one batch (this config sets no
	// memory budget: the fixed 64, capped by the samples): the arena's buffers for one image are
	// conv2d's 28x28x16 output, the pooled 14x14x16, and conv2d_2's
	// 7x7x64 (conv2d_1's 14x14x32 reuses conv2d's buffer, its pooled
	// 7x7x32 the first pool's), 18816 floats; and the decoded 28x28x1.
	// And the backbone itself: its filters and biases up to conv2d_2,
	// 3*3*1*16+16 + 3*3*16*32+32 + 3*3*32*64+64 = 23296 floats, held
	// decoded and encoded, then what the engine makes of them and its
	// workers' scratch, as native counts them (TestFixedByHand,
	// TestFixedIsWhatTheHeapHolds) for batches of 30 on the threads the
	// worker gets.
	prep, err := prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mem, err := prep.Memory(30, threads.Default())
	if err != nil {
		t.Fatal(err)
	}
	backbone := mem.Fixed.Bytes()
	if backbone < 2*23296*4 {
		t.Errorf("the backbone holds %d bytes; its weights alone are 2 x %d", backbone, 23296*4)
	}
	extract := int64(30*(28*28*16+14*14*16+7*7*64)*4+30*28*28*4) + backbone
	want := Footprint{Samples: 30, FeatureBytes: 30 * perSample, ParamBytes: 9402 * 4 * 4,
		ScratchBytes: scratch, ExtractBytes: extract, BackboneBytes: backbone, ContextBytes: 600 << 20}
	if f != want {
		t.Errorf("footprint %+v, want %+v", f, want)
	}
	// On the host: the features, then the larger of the extraction (here)
	// and the head's state and scratch; a budget under the features
	// streams them.
	if h := f.Host(1 << 30); h != 30*perSample+extract || extract < f.ParamBytes+f.ScratchBytes {
		t.Errorf("host memory %d; want %d", h, 30*perSample+extract)
	}
	if h := f.Host(100); h != 100+extract {
		t.Errorf("host memory at a budget of 100 bytes %d; want %d", h, 100+extract)
	}
	if need, ok := f.Need(f.Resident()); !ok || need != f.Resident() {
		t.Errorf("resident fit: %d %v", need, ok)
	}
	if need, ok := f.Need(f.Resident() - 1); !ok || need != f.Streaming() {
		t.Errorf("streaming fit: %d %v", need, ok)
	}
	if _, ok := f.Need(f.Streaming() - 1); ok {
		t.Error("a job over even the streaming footprint was admitted")
	}
	// Three views of each training image: three feature rows per image of
	// data (an upper bound: its validation split's images have one).
	aug := smallConfig(t, data, 1)
	aug.Augment, aug.Views = "flip", 3
	if cfg, err = job.FromRecord(aug); err != nil {
		t.Fatal(err)
	}
	if f, err = EstimateFootprint(cfg); err != nil || f.Samples != 30 || f.FeatureBytes != 90*perSample {
		t.Errorf("with 3 views: %v, %d samples, %d feature bytes; want 30, %d", err, f.Samples, f.FeatureBytes, 90*perSample)
	}
}

// Validation reads batches of max(batch size, 256) samples: a streamed
// validation set larger than one training batch must fit its buffer.
func TestStreamedValidationLargerThanABatch(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6) // 60 images, 12 for validation
	resident := smallConfig(t, data, 2)
	resident.BatchSize = 4
	if _, err := Run(context.Background(), resident, Options{}); err != nil {
		t.Fatal(err)
	}
	streamed := smallConfig(t, data, 2)
	streamed.BatchSize = 4
	streamed.MemoryBudget = 1 // training and validation features stream from the cache
	if _, err := Run(context.Background(), streamed, Options{}); err != nil {
		t.Fatal(err)
	}
	batchParams(t, "streamed vs resident", params(t, filepath.Join(streamed.Out, rundir.LastCkpt)), params(t, filepath.Join(resident.Out, rundir.LastCkpt)))
	a, err := rundir.ReadMetrics(resident.Out)
	if err != nil {
		t.Fatal(err)
	}
	b, err := rundir.ReadMetrics(streamed.Out)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a {
		// With OpenBLAS the two extract in other batches (gemm.BatchInvariant).
		same := a[i].ValLoss == b[i].ValLoss && a[i].ValAccuracy == b[i].ValAccuracy
		if !gemm.BatchInvariant {
			same = math.Abs(a[i].ValLoss-b[i].ValLoss) <= 1e-4*(1+math.Abs(a[i].ValLoss)) && a[i].ValAccuracy == b[i].ValAccuracy
		}
		if !same {
			t.Errorf("epoch %d validation: resident %v/%v, streamed %v/%v (%s GEMM)", i+1, a[i].ValLoss, a[i].ValAccuracy, b[i].ValLoss, b[i].ValAccuracy, gemm.Backend)
		}
	}
}

// A worker killed after the checkpoint's write but before metrics.jsonl's
// (reproduced here by dropping the file's last line) must not lose that
// epoch's metrics on resume: the checkpoint carries them.
func TestResumeAfterCrashBetweenCheckpointAndMetrics(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 8)
	ctx := context.Background()
	cfg := smallConfig(t, data, 3)
	cctx, cancel := context.WithCancel(ctx)
	_, err := Run(cctx, cfg, Options{Progress: func(e Event) {
		if e.Kind == "epoch" && e.Epoch == 2 {
			cancel()
		}
	}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	before, err := rundir.ReadMetrics(cfg.Out)
	if err != nil || len(before) != 2 {
		t.Fatalf("interrupted run: %d epochs of metrics (%v), want 2", len(before), err)
	}
	if err := rundir.WriteMetrics(cfg.Out, before[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Config{Out: cfg.Out}, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	after, err := rundir.ReadMetrics(cfg.Out)
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 {
		t.Fatalf("resumed run has %d epochs of metrics, want 3", len(after))
	}
	for i, m := range before {
		if after[i].Epoch != m.Epoch || after[i].Loss != m.Loss || after[i].ValAccuracy != m.ValAccuracy {
			t.Errorf("epoch %d's metrics changed across the resume: %+v, want %+v", i+1, after[i], m)
		}
	}
}
