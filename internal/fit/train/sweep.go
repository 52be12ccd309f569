package train

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/extract/features"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/util/atomicfile"
	"github.com/graft-ml/graft/internal/util/npy"
)

// SweepOptions wire a sweep into its surroundings.
type SweepOptions struct {
	// Options are the runs': the log, the extraction's progress, the
	// feature cache's cap, the image size cap. Ops and Resume are not
	// used: a sweep trains new heads on the CPU.
	Options
	// Parallel caps the trials training at once (<= 0: one per core);
	// the memory budget left beside the features may cap it lower.
	Parallel int
	// Done, if set, hears of each trial as it ends (from the trial's
	// goroutine, one at a time).
	Done func(TrialResult)
	// SaveFeatures, if set, is a directory to write the features the
	// trials share into, as NumPy arrays (train_x.npy, train_y.npy,
	// val_x.npy, val_y.npy): what a peer trains on to compare.
	SaveFeatures string
}

// TrialResult is how one trial of a sweep ended.
type TrialResult struct {
	Trial   int
	Out     string
	Summary *Summary // nil when Err is set
	Err     error
	Seconds float64
}

// SweepReport is a sweep's results, in trial order, and what it shared.
type SweepReport struct {
	Trials []TrialResult
	// Parallel is the number of trials that trained at once.
	Parallel int
	// FeatureSeconds is the one extraction's decode and backbone time.
	FeatureSeconds float64
}

// Sweep trains one head per job on features extracted once. The jobs
// differ only in the head's and the optimizer's settings (internal/fit/sweep
// builds them); each is a new run in its own directory, jobs[0]'s made
// as train's are (data, backbone, features), the others' from it. Their
// features sit in memory once, read by every trial (or stream from the
// cache when they exceed the memory budget), and the trials train
// concurrently, each a normal run with its own early stopping: eval,
// predict and export take any of them. A trial that fails is reported and
// the others go on; setup errors fail the sweep before any trial.
func Sweep(ctx context.Context, jobs []*job.Job, so SweepOptions) (*SweepReport, error) {
	if len(jobs) == 0 {
		return nil, errors.New("train: a sweep needs at least one trial")
	}
	for _, j := range jobs {
		j.DecideAuto(func() error { return errors.New("a sweep trains on the cpu") })
		if j.Device.IsCUDA() {
			return nil, fmt.Errorf("train: a sweep trains its heads on the cpu, not %s: use --device cpu", j.Device)
		}
	}
	opts := so.Options
	opts.Ops, opts.Resume = nil, false
	opts.setDefaults()
	first := &runner{opts: opts, log: opts.Log.With(zap.Int("trial", 0))}
	if err := first.setup(ctx, jobs[0]); err != nil {
		first.releaseCache()
		return nil, err
	}
	defer first.close()
	first.opts.Progress = func(Event) {} // trials report by Done
	if so.SaveFeatures != "" {
		if err := saveFeatures(so.SaveFeatures, first.trainSet, first.valSet); err != nil {
			return nil, err
		}
	}
	// setup put trial 0's features on its (CPU) device; every trial reads
	// those buffers, and the host copies can go.
	trainSet, valSet := shareSet(first.trainSet, first.trainSrc), shareSet(first.valSet, first.valSrc)
	rep := &SweepReport{Trials: make([]TrialResult, len(jobs))}
	for _, e := range first.extract {
		rep.FeatureSeconds += e.DecodeSeconds + e.BackboneSeconds
	}
	rep.Parallel = sweepParallel(so.Parallel, jobs, first, trainSet)
	first.log.Info("sweep", zap.Int("trials", len(jobs)), zap.Int("parallel", rep.Parallel), zap.Bool("features_in_memory", trainSet.OnDevice != nil))

	next := make(chan int)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range rep.Parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				start := time.Now()
				var s *Summary
				err := ctx.Err() // an interrupted sweep starts no more trials
				if err == nil {
					s, err = first.trial(ctx, i, jobs[i], trainSet, valSet)
				}
				res := TrialResult{Trial: i, Out: jobs[i].Out, Summary: s, Err: err, Seconds: time.Since(start).Seconds()}
				if err != nil {
					first.log.Warn("trial failed", zap.Int("trial", i), zap.Error(err))
				}
				mu.Lock()
				rep.Trials[i] = res
				if so.Done != nil {
					so.Done(res)
				}
				mu.Unlock()
			}
		}()
	}
	for i := range jobs {
		if ctx.Err() != nil {
			rep.Trials[i] = TrialResult{Trial: i, Out: jobs[i].Out, Err: ctx.Err()}
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	return rep, ctx.Err()
}

// shareSet is set as a trial reads it: from src's buffer when src holds
// every feature (the host copy dropped: the buffer has them), else as it
// is (streamed from the cache).
func shareSet(set *features.Set, src head.Source) *features.Set {
	res, ok := src.(head.Resident)
	if !ok {
		return set
	}
	c := *set
	c.OnDevice, c.Features = res.Buf, nil
	set.Features = nil
	return &c
}

// trial trains job i: trial 0 in first, set up already; the others in a
// runner that shares first's data and features, in a run directory made
// from first's.
func (first *runner) trial(ctx context.Context, i int, j *job.Job, trainSet, valSet *features.Set) (*Summary, error) {
	if i == 0 {
		return first.train(ctx)
	}
	r, err := first.sibling(j, trainSet, valSet)
	if err != nil {
		return nil, err
	}
	defer r.close()
	return r.train(ctx)
}

// sibling is a runner for j on first's data: what setup decided for the
// data (preprocessing, class weights) and wrote (split, classes, the
// lists of duplicates and bad files) is first's.
func (first *runner) sibling(j *job.Job, trainSet, valSet *features.Set) (*runner, error) {
	j.Preprocess, j.PreprocessReason, j.ClassWeights = first.cfg.Preprocess, first.cfg.PreprocessReason, first.cfg.ClassWeights
	if err := rundir.PrepareNew(j.Out); err != nil {
		return nil, err
	}
	if err := rundir.WriteJSON(j.Out, rundir.ConfigFile, j); err != nil {
		return nil, err
	}
	for _, name := range []string{rundir.SplitFile, rundir.ClassesFile, rundir.DuplicatesFile, rundir.BadFilesFile} {
		if err := copyFile(filepath.Join(first.cfg.Out, name), filepath.Join(j.Out, name)); err != nil {
			return nil, err
		}
	}
	r := &runner{opts: first.opts, log: first.opts.Log.With(zap.String("run", j.Out)), cfg: j, runData: first.runData}
	r.trainSet, r.valSet = trainSet, valSet // as shared (shareSet)
	if err := r.prepareModel(); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// copyFile copies src to dst atomically; a missing src is no error.
func copyFile(src, dst string) error {
	err := atomicfile.Copy(src, dst, 0o644)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("train: %w", err)
	}
	return nil
}

// sweepParallel is how many trials train at once: want (<= 0: one per
// core), at most the trials, and at most what the memory budget left
// beside the resident features holds of the largest trial's head, at
// least one.
func sweepParallel(want int, jobs []*job.Job, first *runner, set *features.Set) int {
	if want <= 0 {
		want = runtime.NumCPU()
	}
	n := min(want, len(jobs))
	var per int64
	for _, j := range jobs {
		if spec, err := j.HeadSpec(set.Shape, len(first.classes)); err == nil {
			per = max(per, trialBytes(spec, j.Opt.Slots(), evalBatchFor(j.BatchSize)))
		}
	}
	left := first.cfg.MemoryBudget
	if set.OnDevice != nil {
		left -= int64(set.OnDevice.Len()) * 4
	}
	if per > 0 && left/per < int64(n) {
		n = int(left / per)
	}
	return max(n, 1)
}

// trialBytes sizes a CPU trial: its parameters, gradients and optimizer
// slots, and the CPU ops' scratch for a batch of b (the gathered or
// im2col input, the activations, pooled and logits).
func trialBytes(spec head.Spec, slots, b int) int64 {
	hw := spec.Height * spec.Width
	scratch := hw * spec.Channels
	if spec.Kind == head.KindConv {
		scratch = hw * (spec.Channels*spec.Kernel*spec.Kernel + spec.Filters)
	}
	return 4 * (int64(spec.Layout().Total)*int64(2+slots) + int64(b)*int64(scratch+spec.Pooled()+2*spec.Classes))
}

// saveFeatures writes the train and val sets as NumPy arrays in dir.
func saveFeatures(dir string, sets ...*features.Set) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("train: %w", err)
	}
	for i, set := range sets {
		name := [2]string{"train", "val"}[i]
		x := make([]float32, set.Len()*set.Size)
		for j := range set.Len() {
			if err := set.Sample(j, x[j*set.Size:(j+1)*set.Size]); err != nil {
				return err
			}
		}
		shape := append([]int{set.Len()}, set.Shape...)
		for _, f := range []struct {
			file  string
			write func(io.Writer) error
		}{
			{name + "_x.npy", func(w io.Writer) error { return npy.Write(w, shape, x) }},
			{name + "_y.npy", func(w io.Writer) error { return npy.Write(w, []int{set.Len()}, set.Labels) }},
		} {
			if err := atomicfile.Write(filepath.Join(dir, f.file), 0o644, f.write); err != nil {
				return fmt.Errorf("train: saving features: %w", err)
			}
		}
	}
	return nil
}
