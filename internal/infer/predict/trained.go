package predict

import (
	"context"
	"fmt"
	"path/filepath"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
	"github.com/graft-ml/graft/internal/extract/features"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// Trained is a finished (or interrupted) run loaded for use: its backbone
// cut at the tap and its best head, ready for evaluation and prediction.
type Trained struct {
	Dir      string
	Config   api.RunSpec
	Classes  []string
	Backbone backbone.Backbone
	Model    *head.Model
	// MemoryBudget sizes the extractions' batches and decoded images as
	// training's (features.PlanJob): the run's memory_budget unless the
	// caller sets another (graft eval --memory-budget). <= 0: no bound.
	MemoryBudget int64
	cache        *featcache.Namespace
}

// LoadRun opens the run in dir: config.json, classes.json and
// head.safetensors (or, for a run still training, its best checkpoint).
// The feature cache its evaluations fill has the default cap.
func LoadRun(dir string) (*Trained, error) { return LoadRunCapped(dir, -1) }

// LoadRunCapped is LoadRun with the feature cache capped as
// train.Options.CacheMaxBytes caps a run's (graft serve's --cache-max-bytes).
func LoadRunCapped(dir string, cacheMaxBytes int64) (*Trained, error) {
	t := &Trained{Dir: dir}
	if err := rundir.ReadJSON(dir, rundir.ConfigFile, &t.Config); err != nil {
		return nil, err
	}
	if err := rundir.ReadJSON(dir, rundir.ClassesFile, &t.Classes); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, rundir.HeadFile)
	m, _, err := head.Load(head.NewCPUOps(), path)
	if err != nil {
		var err2 error
		if m, _, err2 = head.Load(head.NewCPUOps(), filepath.Join(dir, rundir.BestCkpt)); err2 != nil {
			return nil, fmt.Errorf("predict: run %s has no usable head: %w", dir, err)
		}
	}
	t.Model = m
	c := &t.Config
	t.MemoryBudget = c.MemoryBudget
	if t.Backbone, err = features.OpenBackbone(c, nil, false); err != nil {
		m.Close()
		return nil, fmt.Errorf("predict: run %s: backbone: %w", dir, err)
	}
	if c.CacheDir != "none" { // no cache is slower, not wrong
		if digest, err := features.BackboneDigest(c); err == nil {
			t.cache, _ = features.OpenCache(c, t.Backbone, digest, cacheMaxBytes)
		}
	}
	return t, nil
}

// Split reopens the run's own training or validation samples (part
// rundir.SplitTrain or rundir.SplitVal), exactly as the run divided its data.
func (t *Trained) Split(part string) (*dataset.Dataset, error) {
	if part != rundir.SplitTrain && part != rundir.SplitVal {
		return nil, fmt.Errorf("predict: split %q: use %s or %s", part, rundir.SplitVal, rundir.SplitTrain)
	}
	train, val, err := rundir.OpenSplit(&t.Config, t.Dir, t.Classes)
	if err != nil {
		return nil, err
	}
	if part == rundir.SplitTrain {
		return train, nil
	}
	return val, nil
}

// Overlap counts evaluated samples that the run trained on.
type Overlap struct {
	// Samples of the evaluated set are byte-identical to a training
	// sample; SameFiles of them are the training files themselves.
	Samples   int `json:"samples"`
	SameFiles int `json:"same_files"`
	Of        int `json:"of"`
}

// TrainingOverlap compares the samples of set (their content digests)
// with the run's training samples: from split.json, or for runs made
// before it by hashing the training files again.
func (t *Trained) TrainingOverlap(ctx context.Context, set *features.Set) (Overlap, error) {
	rec, err := rundir.ReadSplit(t.Dir)
	if err != nil {
		return Overlap{}, err
	}
	training := &dataset.Dataset{}
	if rec != nil {
		for _, s := range rec.Train {
			training.Samples = append(training.Samples, dataset.Sample{ID: s.ID, Digest: rundir.DigestOf(s.SHA256)})
		}
	} else {
		if training, err = t.Split(rundir.SplitTrain); err != nil {
			return Overlap{}, err
		}
		dataset.Hash(ctx, training, t.Config.Workers)
	}
	evaluated := &dataset.Dataset{}
	for i, id := range set.IDs {
		evaluated.Samples = append(evaluated.Samples, dataset.Sample{ID: id, Digest: set.Digests[i]})
	}
	o := Overlap{Of: set.Len()}
	o.Samples, o.SameFiles = evaluated.Overlap(training)
	return o, ctx.Err()
}

// Close releases the head and the backbone.
func (t *Trained) Close() {
	t.Model.Close()
	t.Backbone.Close()
}

// Features extracts the features of ds for this run's head, through the
// run's feature cache.
// progress, when not nil, is called as samples are done (as in training's
// extraction: for a progress bar).
// Its batches and decoded chunks are sized from t.MemoryBudget (Plan).
func (t *Trained) Features(ctx context.Context, ds *dataset.Dataset, policy dataset.BadFilePolicy, log *zap.Logger, progress func(done, total int)) (*features.Set, *features.Report, error) {
	return t.FeaturesPlanned(ctx, ds, t.Plan(ds.Len(), log), policy, log, progress)
}

// FeaturesPlanned is Features on the extraction plan p (Plan), made by a
// caller that sized something else from it first (HostBytes).
func (t *Trained) FeaturesPlanned(ctx context.Context, ds *dataset.Dataset, p features.Plan, policy dataset.BadFilePolicy, log *zap.Logger, progress func(done, total int)) (*features.Set, *features.Report, error) {
	o := features.Options{Mode: t.Config.Preprocess, Policy: policy, Cache: t.cache, Workers: t.Config.Workers, Log: log, Progress: progress}
	o.Batch, o.Chunk = p.Batch, p.Chunk
	return features.Extract(ctx, t.Backbone, ds, o)
}

// HostBytes is what scoring n samples extracted on plan p holds at most:
// their features, and either the extraction (the plan's bytes) or, after
// it, the head's parameters and the scratch of Probabilities' batches of
// 256 (the CPU head reads the features in place: PlaceFeatures).
func (t *Trained) HostBytes(n int, p features.Plan) int64 {
	spec := t.Model.Spec
	feats := 4 * int64(n) * int64(spec.FeatureSize())
	scoring := 4*int64(spec.Layout().Total) + head.CPUScratchBytes(spec, head.PrecisionFP32, 0, min(n, 256))
	return feats + max(p.Bytes, scoring)
}

// Plan is the extraction plan for n images within t.MemoryBudget, logged
// on log when not nil; a graph the native engine cannot replay gets the
// fixed sizes (a zero Plan: features.Options' defaults).
func (t *Trained) Plan(n int, log *zap.Logger) features.Plan {
	p, err := features.PlanJob(&t.Config, t.Backbone, n, t.MemoryBudget)
	if log == nil {
		log = zap.NewNop()
	}
	if err != nil {
		log.Info("extraction: no working-set estimate for this graph; batches of 64", zap.Error(err))
		return features.Plan{}
	}
	log.Info("extraction plan", zap.Int("batch", p.Batch), zap.Int("decode_chunk", p.Chunk), zap.Int64("bytes", p.Bytes), zap.Int64("backbone_bytes", p.Fixed), zap.Int64("memory_budget", t.MemoryBudget))
	return p
}

// Probabilities returns the head's class probabilities for the n samples
// of feats (n x classes).
func (t *Trained) Probabilities(feats []float32, n int) ([]float32, error) {
	ops := t.Model.Ops()
	buf, err := head.PlaceFeatures(ops, t.Model.Spec, feats)
	if err != nil {
		return nil, err
	}
	defer ops.Free(buf)
	p, err := t.Model.Logits(head.Resident{Buf: buf}, n, 256)
	if err != nil {
		return nil, err
	}
	k := t.Model.Spec.Classes
	for i := 0; i < n; i++ {
		head.Softmax(p[i*k : (i+1)*k])
	}
	return p, nil
}

// Classifier returns the run as one model, images in and class
// probabilities out: the backbone cut at the tap with the head on top.
func (t *Trained) Classifier() *Classifier { return &Classifier{t} }

// Classifier is a trained run as a predictor (a Model).
type Classifier struct{ t *Trained }

// Input is the backbone's image input.
func (c *Classifier) Input() backbone.TensorSpec { return c.t.Backbone.Input() }

// Predict returns each image's class probabilities, in the run's class
// order.
func (c *Classifier) Predict(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	f, err := c.t.Backbone.Features(ctx, batch)
	if err != nil {
		return nil, err
	}
	n := f.Shape[0]
	p, err := c.t.Probabilities(f.F32, n)
	if err != nil {
		return nil, err
	}
	return tensor.FromFloat32(p, n, len(c.t.Classes))
}
