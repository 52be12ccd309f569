package train

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/base/wrap"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
	"github.com/graft-ml/graft/internal/extract/features"
	"github.com/graft-ml/graft/internal/infer/evaluate"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/util/atomicfile"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// Event reports progress; the CLI renders it and a worker streams it to
// the daemon as JSON lines (api.Event).
type Event = api.Event

// Options wire a run into its surroundings.
type Options struct {
	Log      *zap.Logger
	Progress func(Event)
	// Shown says Progress puts epochs and extractions before a person (a
	// terminal's progress bar): the log then keeps them at debug level,
	// so that each is said once.
	Shown bool
	// Resume continues the run in the job's Out from its last checkpoint.
	Resume bool
	// Ops is the device to train on; nil means the CPU. A config whose
	// device is cuda needs the CUDA ops (graft-cuda provides them).
	Ops head.Ops
	// MaxImagePixels refuses, as a bad file, an image with more pixels
	// (from its header); <= 0: images.DefaultMaxPixels. It is the
	// runner's --max-image-pixels, not a setting of the run.
	MaxImagePixels int64
	// CacheMaxBytes caps the feature cache (featcache.Open): the
	// runner's --cache-max-bytes, not a setting of the run. < 0: the
	// default (featcache.DefaultMaxBytes of the cache's directory); 0: no
	// cap.
	CacheMaxBytes int64
	// FullDiskAt is for tests only (graft worker --test-full-disk-at): a
	// run that is not resumed fails to write this epoch's checkpoint with
	// ENOSPC, as on a full disk.
	FullDiskAt int
	// Shards, when set, extracts the features in worker processes first
	// (shards.go).
	Shards *ShardOptions
	// save writes a checkpoint; tests replace it to simulate a full disk.
	save rundir.SaveFunc
}

// Timing and Summary are summary.json (api's).
type (
	Timing  = api.Timing
	Summary = api.Summary
)

// setBest fills s's best-epoch fields from the epochs' metrics.
func setBest(s *Summary, monitor api.Monitor, bestEpoch int, ms []rundir.Metrics) {
	s.Monitor, s.BestEpoch = monitor, bestEpoch
	for i, met := range ms {
		if met.Epoch == bestEpoch {
			s.BestValAccuracy, s.BestValLoss = met.ValAccuracy, met.ValLoss
		}
		if i == 0 || met.ValAccuracy > s.HighestValAccuracy {
			s.HighestValAccuracy, s.HighestValAccuracyEpoch = met.ValAccuracy, met.Epoch
		}
		if i == 0 || met.ValLoss < s.LowestValLoss {
			s.LowestValLoss, s.LowestValLossEpoch = met.ValLoss, met.Epoch
		}
	}
}

// Run resolves a record whose zero fields are the defaults (the
// convenience of tools and tests), or with opts.Resume continues the run
// in cfg.Out (cfg's non-zero epochs and device override the stored
// ones), and runs it.
func Run(ctx context.Context, cfg Config, opts Options) (*Summary, error) {
	j, err := job.FromRun(cfg, opts.Resume)
	if err != nil {
		return nil, err
	}
	return RunJob(ctx, j, opts)
}

// RunJob trains the resolved job j (or with opts.Resume continues the run
// in j.Out) and returns the run's summary.
func RunJob(ctx context.Context, j *job.Job, opts Options) (*Summary, error) {
	opts.setDefaults()
	if at := opts.FullDiskAt; at > 0 && !opts.Resume {
		save, epoch := opts.save, 0
		opts.save = func(m *head.Model, path string, classes []string, st json.RawMessage) error {
			if strings.HasSuffix(path, rundir.LastCkpt) { // once per epoch, first
				epoch++
			}
			if epoch == at {
				return &os.PathError{Op: "write", Path: path, Err: syscall.ENOSPC}
			}
			return save(m, path, classes, st)
		}
	}
	r := &runner{opts: opts, log: opts.Log}
	if err := r.setup(ctx, j); err != nil {
		r.releaseCache()
		r.restoreHeapLimit()
		return nil, err
	}
	defer r.close()
	return r.train(ctx)
}

// setDefaults fills the options left unset.
func (opts *Options) setDefaults() {
	if opts.Log == nil {
		opts.Log = zap.NewNop()
	}
	if opts.Progress == nil {
		opts.Progress = func(Event) {}
	}
	if opts.save == nil {
		opts.save = func(m *head.Model, path string, classes []string, st json.RawMessage) error {
			return m.Save(path, classes, st)
		}
	}
}

type runner struct {
	opts Options
	log  *zap.Logger
	cfg  *job.Job
	// restoreHeap puts back the heap's soft limit from before limitHeap
	// (nil: none was set).
	restoreHeap func()
	// modelRoom holds the device memory of the model's buffers while
	// features are extracted onto the device (reserveBefore), until
	// prepareModel makes the model in it.
	modelRoom []head.Buffer

	// runData is what setup decided about the data: a sweep's trials
	// share it whole (sibling).
	runData
	epochsRun int // epochs trained in this process
	ops       head.Ops
	model     *head.Model
	st        state
	trainSrc  head.Source
	valSrc    head.Source
	free      []head.Buffer
	out       *rundir.Writer
	metrics   []rundir.Metrics
	baseLR    float64
	headTime  time.Duration
	all       *dataset.Dataset // a new run's data with duplicates, until setup lists them
	// lease keeps the run's features in the cache while it reads them.
	lease *featcache.Lease
}

// runData is what a run's setup decided about its data and extracted.
type runData struct {
	classes  []string
	trainSet *features.Set
	valSet   *features.Set
	extract  [2]*features.Report
	// dup and valOverlap report identical images in the data, and
	// validation images identical to training ones (--val).
	dup        dataset.Duplicates
	valOverlap int
	digest     string // the backbone folder's content digest
	// trainLabels has one label per training sample, trainKeys (with
	// views) its digest: trainSet has cfg.Views rows per sample (views.go).
	trainLabels []int32
	trainKeys   [][32]byte
}

// releaseCache ends the run's lease on its features in the cache.
func (r *runner) releaseCache() {
	if r.lease == nil {
		return
	}
	if err := r.lease.Release(); err != nil {
		r.log.Warn("feature cache: releasing the run's lease", zap.Error(err))
	}
	r.lease = nil
}

func (r *runner) close() {
	r.releaseCache()
	r.restoreHeapLimit()
	if r.out != nil {
		r.out.Close()
	}
	for _, src := range []head.Source{r.trainSrc, r.valSrc} {
		// A streamed source's read-ahead must not outlive the run; a
		// device's feature stream frees its buffers and stream.
		if c, ok := src.(io.Closer); ok {
			c.Close()
		}
	}
	for _, b := range r.free {
		r.ops.Free(b)
	}
	if r.model != nil {
		r.model.Close()
	}
}

// setup resolves the config, the data, the features and the model.
func (r *runner) setup(ctx context.Context, cfg *job.Job) error {
	out := cfg.Out
	if gemm.FastHint != "" {
		r.log.Info("gemm", zap.String("backend", gemm.Backend), zap.String("hint", gemm.FastHint))
	} else {
		r.log.Info("gemm", zap.String("backend", gemm.Backend))
	}
	// Callers decide auto where the job runs (job.DecideAuto); a job
	// handed over undecided trains on the ops it is given.
	cfg.DecideAuto(func() error {
		if r.opts.Ops == nil {
			return errors.New("this process trains on the CPU")
		}
		return nil
	})
	r.cfg = cfg
	// The data first: a wrong --data fails in a moment, before a model
	// loads for minutes.
	trainDS, valDS, err := r.datasets(ctx)
	if err != nil {
		return err
	}
	model := loadBackbone(&cfg.RunSpec) // once per run
	if !r.opts.Resume {
		resolvePreprocess(ctx, &cfg.RunSpec, model, trainDS, r.log)
	}
	if err := resolveClassWeights(cfg, trainDS); err != nil {
		return err
	}
	// TensorFlow on the GPU with the CUDA head: features stay on the
	// device (docs/tensorflow-gpu.md).
	copier, _ := r.opts.Ops.(features.DeviceCopier)
	eager := copier != nil && cfg.Engine == api.EngineTensorFlow
	bb, err := features.OpenBackbone(&cfg.RunSpec, model, eager)
	if err != nil {
		return err
	}
	defer bb.Close()
	r.log.Info("backbone", zap.String("model", cfg.Backbone), zap.String("engine", string(cfg.Engine)), zap.String("tap", bb.Tap().Name), zap.Ints("tap_shape", bb.Tap().Shape), zap.Ints("input", bb.Input().Shape))
	if err := checkTap(cfg, bb.Tap().Shape); err != nil {
		return err
	}
	// The run directory once data, model and tap are known good: a typo
	// in any of them leaves nothing to clean up before the next try.
	if !r.opts.Resume {
		if err := rundir.PrepareNew(out); err != nil {
			return err
		}
		if err := rundir.WriteJSON(out, rundir.ConfigFile, cfg); err != nil {
			return err
		}
		if err := rundir.WriteJSON(out, rundir.SplitFile, rundir.SplitRecord{Train: rundir.SplitSamples(trainDS), Val: rundir.SplitSamples(valDS)}); err != nil {
			return err
		}
		if r.all != nil {
			if err := atomicfile.Write(filepath.Join(out, rundir.DuplicatesFile), 0o644, r.all.WriteDuplicates); err != nil {
				return err
			}
			r.dup.List, r.all = rundir.DuplicatesFile, nil
		}
	}
	r.classes = trainDS.Classes
	if !r.opts.Resume {
		if err := rundir.WriteJSON(out, rundir.ClassesFile, r.classes); err != nil {
			return err
		}
	}
	if w := trainDS.Balance().Warning; w != "" {
		r.log.Warn("class imbalance", zap.String("detail", w))
	}

	fo := features.Options{Mode: cfg.Preprocess, Workers: cfg.Workers, MemoryBudget: cfg.MemoryBudget, Log: r.log, Policy: cfg.Policy}
	r.restoreHeap = r.limitHeap(cfg, r.planExtraction(cfg, &fo, bb, trainDS, valDS), bb.Tap().Shape, trainDS, valDS)
	if eager {
		fo.Device = copier
		// The steps' scratch before the device's feature buffers, as on
		// the host path (prepareModel): features that would leave a step
		// no room are extracted to the host and streamed instead of
		// failing at step 1.
		if err := r.reserveBefore(bb.Tap().Shape, trainDS, valDS); err != nil {
			return err
		}
	}
	// Hashed once: the cache's key and, at the end, the summary's record.
	if r.digest, err = features.BackboneDigest(&cfg.RunSpec); err != nil {
		return err
	}
	if cfg.CacheDir != "none" {
		if fo.Cache, err = features.OpenCache(&cfg.RunSpec, bb, r.digest, r.opts.CacheMaxBytes); err != nil {
			return err
		}
		// Leased from before the first lookup: no eviction takes the
		// features this run reads. Without a lease (a cache it cannot
		// write) an evicted entry is computed again, or a streamed run
		// fails reading it.
		if r.lease, err = fo.Cache.Lease(); err != nil {
			r.log.Warn("feature cache: no lease on the run's features", zap.Error(err))
		}
	}
	shards, err := r.extractShards(ctx, [2]*dataset.Dataset{trainDS, valDS}, fo.Cache)
	if err != nil {
		return err
	}
	for i, ds := range []*dataset.Dataset{trainDS, valDS} {
		split := [2]string{"train", "val"}[i]
		if i == 0 && cfg.Views > 1 { // validation is never augmented
			ds = ds.Views(cfg.Views, cfg.Augmenter)
			r.log.Info("augmented views", zap.String("augment", cfg.Augment), zap.Int("views", cfg.Views), zap.Int("samples", trainDS.Len()))
		}
		ds.MaxPixels = r.opts.MaxImagePixels
		var shown time.Time
		fo.Progress = func(done, total int) {
			// A few a second at most: a worker streams every event to the
			// daemon, which keeps them.
			if now := time.Now(); done == 0 || done == total || now.Sub(shown) >= time.Second/4 {
				shown = now
				r.opts.Progress(Event{Kind: api.EventExtract, Split: split, Step: done, Steps: total})
			}
		}
		set, rep, err := features.Extract(ctx, bb, ds, fo)
		if err != nil {
			return wrap.Errorf("train", err, "features of the %s split", split)
		}
		if set.OnDevice != nil {
			r.free = append(r.free, set.OnDevice)
			r.said("features on the device", zap.String("split", split), zap.Int("device_to_device", rep.DeviceCopied), zap.Int("uploaded", rep.Uploaded))
		}
		shards.fix(i, rep)
		r.extract[i] = rep
		if err := r.listBad(split, i == 0, rep.Bad); err != nil {
			return err
		}
		msg := "features extracted"
		if rep.Computed == 0 {
			msg = "features all from the cache: backbone skipped"
		}
		r.said(msg, zap.String("split", split), zap.Int("samples", set.Len()), zap.Int("cache_hits", rep.Hits), zap.Int("computed", rep.Computed), zap.Int("bad_files", len(rep.Bad)), zap.Float64("decode_s", rep.DecodeSeconds), zap.Float64("backbone_s", rep.BackboneSeconds))
		r.opts.Progress(Event{Kind: api.EventFeatures, Split: split, Features: boundedReport(rep)})
		if i == 0 {
			r.trainSet = set
			if err := r.groupViews(); err != nil {
				return err
			}
		} else {
			r.valSet = set
		}
	}
	// Features held in memory or on the device need the cache no more.
	if !fromCache(r.trainSet) && !fromCache(r.valSet) {
		r.releaseCache()
	}
	return r.prepareModel()
}

// fromCache says whether set's features are read from the cache as the
// run trains.
func fromCache(set *features.Set) bool {
	return set != nil && !set.Resident() && set.OnDevice == nil
}

// listBad writes a split's bad files to the run's bad_files.jsonl (the
// first split starts it afresh: each attempt extracts again) and logs the
// first api.MaxExamples of them: a data set of 100k bad files must not
// make a 100k-line log.
func (r *runner) listBad(split string, first bool, bad []dataset.BadFile) error {
	path := filepath.Join(r.cfg.Out, rundir.BadFilesFile)
	if first {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("train: %w", err)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("train: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, b := range bad {
		enc.Encode(struct {
			Split string `json:"split"`
			dataset.BadFile
		}{split, b})
	}
	err = w.Flush()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("train: %s: %w", rundir.BadFilesFile, err)
	}
	for _, b := range bad[:min(len(bad), api.MaxExamples)] {
		r.log.Warn("bad file skipped", zap.String("split", split), zap.String("path", b.Path), zap.String("reason", b.Reason))
	}
	if n := len(bad) - api.MaxExamples; n > 0 {
		r.log.Warn(fmt.Sprintf("%d more bad files skipped; every one is listed in %s", n, path), zap.String("split", split))
	}
	return nil
}

// boundedReport is rep as a features event carries it: the first
// api.MaxExamples bad files, their count, and where the rest are.
func boundedReport(rep *features.Report) *api.FeatureReport {
	ev := *rep
	if len(rep.Bad) > 0 {
		ev.Bad = rep.Bad[:min(len(rep.Bad), api.MaxExamples)]
		ev.BadTotal, ev.BadList = len(rep.Bad), rundir.BadFilesFile
	}
	return &ev
}

// said logs what the progress output also says: at info level, or at
// debug level when a person sees it in the progress output already.
func (r *runner) said(msg string, fields ...zap.Field) {
	if r.opts.Shown {
		r.log.Debug(msg, fields...)
		return
	}
	r.log.Info(msg, fields...)
}

// datasets opens the training data and the validation data (a separate
// set with the training classes imposed, or a seeded stratified split
// that keeps identical images on one side); a resumed run reads its split
// back from split.json (setup writes a new run's).
func (r *runner) datasets(ctx context.Context) (*dataset.Dataset, *dataset.Dataset, error) {
	if r.opts.Resume {
		var known []string
		if err := rundir.ReadJSON(r.cfg.Out, rundir.ClassesFile, &known); err != nil {
			return nil, nil, err
		}
		var before Summary // an interrupted run has none yet
		if rundir.ReadJSON(r.cfg.Out, rundir.SummaryFile, &before) == nil {
			r.dup, r.valOverlap = before.Duplicates, before.ValOverlap
		}
		return rundir.OpenSplit(&r.cfg.RunSpec, r.cfg.Out, known)
	}
	train, val, all, overlap, err := newSplit(ctx, &r.cfg.RunSpec, r.log)
	if err != nil {
		return nil, nil, err
	}
	r.valOverlap = overlap
	if r.dup = all.Duplicates(); r.dup.Groups > 0 {
		r.all = all // setup writes the full list
		r.log.Warn("duplicate images: "+r.dup.String()+"; each group stays on one side of the train/validation split; every one is listed in "+rundir.DuplicatesFile,
			zap.Any("examples", r.dup.Examples))
	}
	return train, val, nil // setup records the split once the run directory exists
}

// prepareModel builds or restores the head and puts the features on its
// device.
func (r *runner) prepareModel() error {
	cfg := r.cfg
	spec, err := headSpec(cfg, r.trainSet.Shape, len(r.classes))
	if err != nil {
		return err
	}
	opt := cfg.Opt
	// The rate is float64 from the flag to the schedule (the record's, as
	// the user wrote it); the optimizer takes it as float32 once per epoch.
	r.baseLR = cfg.LR
	r.ops = r.opts.Ops
	r.freeModelRoom() // the model is made in the room held for it
	if r.ops == nil {
		if cfg.Device.IsCUDA() {
			return hint.With(fmt.Errorf("train: device %s: this binary trains on the CPU", cfg.Device), "graft train --device %s hands the job to graft-cuda", cfg.Device)
		}
		r.ops = head.NewCPUOps()
	}
	if r.opts.Resume {
		m, ck, err := head.Load(r.ops, filepath.Join(cfg.Out, rundir.LastCkpt))
		if err != nil {
			return fmt.Errorf("train: resume: %w", err)
		}
		r.model = m
		if m.Spec != spec {
			return fmt.Errorf("train: resume: the checkpoint's head %+v does not match the data's %+v", m.Spec, spec)
		}
		if err := json.Unmarshal(ck.Trainer, &r.st); err != nil {
			return fmt.Errorf("train: resume: trainer state: %w", err)
		}
		ms := r.st.History
		if len(ms) == 0 { // a checkpoint written before the state carried them
			if ms, err = rundir.ReadMetrics(cfg.Out); err != nil {
				return err
			}
		}
		r.metrics = ms[:min(len(ms), r.st.Epoch)]
		r.log.Info("resuming", zap.String("run", cfg.Out), zap.Int("epochs_done", r.st.Epoch), zap.Int("step", m.Step))
	} else {
		if r.model, err = head.New(r.ops, spec, opt, cfg.Seed); err != nil {
			return err
		}
		r.st = state{LR: r.baseLR, BestMetric: worst(string(cfg.Monitor))}
	}
	if err := setExtras(r.model, cfg, r.classes); err != nil {
		return err
	}
	// The device's per-step scratch first, so that features which would
	// leave it no room stream instead of failing at step 1.
	if rs, ok := r.ops.(scratchReserver); ok {
		batch, eval := min(cfg.BatchSize, len(r.trainLabels)), min(r.evalBatch(), r.valSet.Len())
		if err := rs.ReserveScratch(spec, batch, eval); err != nil {
			return fmt.Errorf("train: %s has no room for the scratch of a step at batch %d: %w", r.ops.Device(), batch, err)
		}
	}
	if r.trainSrc, err = r.source(r.trainSet, cfg.BatchSize); err != nil {
		return err
	}
	if r.valSrc, err = r.source(r.valSet, r.evalBatch()); err != nil {
		return err
	}
	r.out, err = rundir.NewWriter(cfg.Out, r.classes, r.opts.save)
	return err
}

// reserveBefore reserves the device's per-step scratch from the tap's
// shape and the datasets' sizes, before features are extracted onto the
// device (bad files can only make the sets smaller, so this covers the
// steps; prepareModel's reservation then finds it in place). A shape the
// head does not take is left for prepareModel to report.
func (r *runner) reserveBefore(tap []int, trainDS, valDS *dataset.Dataset) error {
	rs, ok := r.opts.Ops.(scratchReserver)
	if !ok || len(tap) < 2 {
		return nil
	}
	spec, err := headSpec(r.cfg, tap[1:], len(trainDS.Classes))
	if err != nil {
		return nil
	}
	batch, eval := min(r.cfg.BatchSize, trainDS.Len()), min(r.evalBatch(), valDS.Len())
	if err := rs.ReserveScratch(spec, batch, eval); err != nil {
		return fmt.Errorf("train: %s has no room for the scratch of a step at batch %d: %w", r.opts.Ops.Device(), batch, err)
	}
	// The model's buffers (parameters, gradients, optimizer state, as
	// head.New makes them) come after the features: their room is held
	// now, one buffer each, and given to them in prepareModel.
	for range 2 + r.cfg.Opt.Slots() {
		b, err := r.opts.Ops.Alloc(spec.Layout().Total)
		if err != nil {
			r.freeModelRoom()
			return fmt.Errorf("train: %s has no room for the head's parameters and optimizer state: %w", r.opts.Ops.Device(), err)
		}
		r.modelRoom = append(r.modelRoom, b)
	}
	return nil
}

// freeModelRoom gives back what reserveBefore held for the model.
func (r *runner) freeModelRoom() {
	for _, b := range r.modelRoom {
		r.opts.Ops.Free(b)
	}
	r.modelRoom = nil
}

// scratchReserver is a device whose steps need scratch memory that can
// be reserved ahead (the CUDA ops: gpu/plan).
type scratchReserver interface {
	ReserveScratch(spec head.Spec, batch, evalBatch int) error
}

// evalBatch is validation's batch size: at least 256 samples, fewer calls
// than training's batches (no gradients to keep).
func (r *runner) evalBatch() int { return evalBatchFor(r.cfg.BatchSize) }

func evalBatchFor(batch int) int { return max(batch, 256) }

// source puts a feature set on the head's device (features.Place),
// keeping what it allocates for close.
func (r *runner) source(set *features.Set, batch int) (head.Source, error) {
	src, bufs, err := features.Place(r.ops, r.model.Spec, set, batch, r.log)
	r.free = append(r.free, bufs...)
	return src, err
}

// train runs the remaining epochs.
func (r *runner) train(ctx context.Context) (*Summary, error) {
	cfg, m := r.cfg, r.model
	steps := (len(r.trainLabels) + cfg.BatchSize - 1) / cfg.BatchSize
	stoppedEarly := false
	for e := r.st.Epoch; e < cfg.Epochs; e++ {
		lr := r.st.LR
		if cfg.Schedule != api.Plateau {
			lr = scheduledLR(&cfg.RunSpec, r.baseLR, e)
		}
		m.Optimizer.LR = float32(lr)
		start := time.Now()
		step := 0
		var running head.Stats
		st, err := m.Epoch(r.epochSource(e), r.trainLabels, cfg.BatchSize, func(b head.Stats) error {
			step++
			running.Add(b)
			r.opts.Progress(Event{Kind: api.EventStep, Epoch: e + 1, Epochs: cfg.Epochs, Step: step, Steps: steps,
				Loss: running.Loss / float64(running.Count), Accuracy: float64(running.Correct) / float64(running.Count)})
			return ctx.Err()
		})
		if errors.Is(err, head.ErrNonFinite) {
			return nil, hint.With(fmt.Errorf("train: epoch %d diverged: %w; the last good checkpoint (epoch %d) is in %s", e+1, err, r.st.Epoch, filepath.Join(cfg.Out, rundir.LastCkpt)), "lower --lr (now %g) and continue with graft train --resume %s", lr, cfg.Out)
		}
		if err != nil {
			return nil, hint.With(fmt.Errorf("train: epoch %d: %w (the run keeps its last checkpoint, epoch %d)", e+1, err, r.st.Epoch), "continue with graft train --resume %s", cfg.Out)
		}
		r.headTime += time.Since(start)
		r.epochsRun++
		ev, err := m.Evaluate(r.valSrc, r.valSet.Labels, r.evalBatch())
		if err != nil {
			return nil, fmt.Errorf("train: epoch %d validation: %w", e+1, err)
		}
		met := rundir.Metrics{Epoch: e + 1, Loss: st.Loss / float64(st.Count), Accuracy: float64(st.Correct) / float64(st.Count),
			ValLoss: ev.Loss / float64(ev.Count), ValAccuracy: float64(ev.Correct) / float64(ev.Count), ValTop5: float64(ev.Top5) / float64(ev.Count),
			LR: lr, Seconds: time.Since(start).Seconds()}
		stop := r.advance(met)
		truth := make([]int, len(r.valSet.Labels))
		for i, y := range r.valSet.Labels {
			truth[i] = int(y)
		}
		if err := r.checkpoint(met, evaluate.Score(r.classes, truth, ev.Predicted)); err != nil {
			return nil, err
		}
		r.opts.Progress(Event{Kind: api.EventEpoch, Epoch: e + 1, Epochs: cfg.Epochs, Metrics: &met})
		r.said("epoch", zap.Int("epoch", e+1), zap.Float64("loss", met.Loss), zap.Float64("accuracy", met.Accuracy), zap.Float64("val_loss", met.ValLoss), zap.Float64("val_accuracy", met.ValAccuracy), zap.Float64("lr", lr), zap.Float64("seconds", met.Seconds))
		if stop {
			stoppedEarly = true
			r.log.Info("early stopping", zap.String("monitor", string(cfg.Monitor)), zap.Int("patience", cfg.EarlyStopping), zap.Int("best_epoch", r.st.BestEpoch))
			break
		}
	}
	return r.finish(stoppedEarly)
}

// advance updates the trainer state with an epoch's metrics and reports
// whether early stopping ends the run.
func (r *runner) advance(met rundir.Metrics) bool {
	cfg := r.cfg
	metric := met.ValLoss
	if cfg.Monitor == "val_accuracy" {
		metric = met.ValAccuracy
	}
	r.st.Epoch = met.Epoch
	if better(string(cfg.Monitor), metric, r.st.BestMetric, cfg.MinDelta) {
		r.st.BestEpoch, r.st.BestMetric, r.st.Wait, r.st.PlateauWait = met.Epoch, metric, 0, 0
	} else {
		r.st.Wait++
		r.st.PlateauWait++
	}
	if cfg.Schedule == "plateau" && r.st.PlateauWait >= cfg.PlateauPatience {
		r.st.LR *= cfg.Gamma
		r.st.PlateauWait = 0
		r.log.Info("reducing learning rate on plateau", zap.Float64("lr", r.st.LR))
	}
	r.metrics = append(r.metrics, met)
	return cfg.EarlyStopping > 0 && r.st.Wait >= cfg.EarlyStopping
}

// checkpoint writes the epoch's checkpoints, metrics and TensorBoard
// scalars (with val, the validation scores per class).
func (r *runner) checkpoint(met rundir.Metrics, val evaluate.Report) error {
	r.st.History = r.metrics
	st, err := json.Marshal(r.st)
	if err != nil {
		return err
	}
	return r.out.Epoch(r.model, st, r.st.BestEpoch == met.Epoch, r.metrics, val.Classes)
}

// finish publishes the best head and writes summary.json.
func (r *runner) finish(stoppedEarly bool) (*Summary, error) {
	cfg := r.cfg
	s := &Summary{Epochs: r.st.Epoch, StoppedEarly: stoppedEarly,
		TrainSamples: len(r.trainLabels), ValSamples: r.valSet.Len(), Device: r.ops.Device()}
	setBest(s, cfg.Monitor, r.st.BestEpoch, r.metrics)
	s.BackboneDigest = r.digest
	s.Duplicates, s.ValOverlap = r.dup, r.valOverlap
	var decoded, computed int
	for _, rep := range r.extract {
		s.BadFiles += len(rep.Bad)
		s.CacheHits += rep.Hits
		s.CacheComputed += rep.Computed
		s.FeaturesDeviceToDevice += rep.DeviceCopied
		s.FeaturesUploaded += rep.Uploaded
		s.Timing.DecodeSeconds += rep.DecodeSeconds
		s.Timing.BackboneSeconds += rep.BackboneSeconds
		decoded += rep.Computed + len(rep.Bad)
		computed += rep.Computed
	}
	if s.BadFiles > 0 {
		s.BadFilesList = rundir.BadFilesFile
	}
	s.Timing.HeadSeconds = r.headTime.Seconds()
	rate := func(n int, sec float64) float64 {
		if sec == 0 {
			return 0
		}
		return float64(n) / sec
	}
	s.Timing.DecodeImagesPerSec = rate(decoded, s.Timing.DecodeSeconds)
	s.Timing.BackboneImagesPerSec = rate(computed, s.Timing.BackboneSeconds)
	s.Timing.HeadImagesPerSec = rate(len(r.trainLabels)*r.epochsRun, s.Timing.HeadSeconds)
	if err := r.out.Finish(s); err != nil {
		return nil, err
	}
	r.opts.Progress(Event{Kind: api.EventDone, Summary: s})
	return s, nil
}
