package features

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
)

// ErrBudget reports features that fit neither memory nor a cache.
var ErrBudget = errors.New("features: over the memory budget")

// Options control an extraction.
type Options struct {
	Mode    string // preprocessing, images.Modes
	Policy  dataset.BadFilePolicy
	Workers int // decoding goroutines; <= 0: GOMAXPROCS
	Batch   int // images per backbone call; <= 0: 64
	Chunk   int // images decoded at once, a multiple of Batch; <= 0: 2048
	// Cache, when set, is consulted before and filled after the backbone.
	Cache *featcache.Namespace
	// MemoryBudget bounds the bytes of features kept in memory; above it
	// the features stay in the cache only (which must then be set) and
	// training streams them. <= 0: no bound.
	MemoryBudget int64
	Log          *zap.Logger
	// Progress, when set, hears how many of the samples the cache did not
	// hold have been through the backbone: (0, total) before the first,
	// then after every batch, the last call with done == total.
	Progress func(done, total int)
	// Device, when set and the backbone keeps its output on a device
	// (tf.DeviceFeaturer: TensorFlow's eager engine), puts the features
	// in a buffer on Device as they are extracted (Set.OnDevice): the
	// computed ones device to device, the cached ones uploaded. Features
	// over the memory budget, or that do not fit the device, take the
	// host path.
	Device DeviceCopier
}

// Report says what an extraction did: the report a run's features event
// carries (Bad holds every bad file here; a run's event keeps the first
// few and names the file listing them all).
type Report = api.FeatureReport

// Set is the features of a data set's usable samples, in sample order.
type Set struct {
	Shape   []int // one sample's features, e.g. [7 7 64]
	Size    int   // floats per sample
	Labels  []int32
	IDs     []string
	Digests [][sha256.Size]byte
	// Features holds Len()*Size floats, or is nil when they did not fit
	// the memory budget: then Cache holds every sample's features.
	Features []float32
	Cache    *featcache.Namespace
	// OnDevice, with Options.Device, holds every sample's features in
	// sample order on that device (Features is then nil); the caller
	// frees it.
	OnDevice head.Buffer
}

// Len is the number of samples.
func (s *Set) Len() int { return len(s.Labels) }

// Resident reports whether the features are in memory.
func (s *Set) Resident() bool { return s.Features != nil }

// Sample copies sample i's features into dst.
func (s *Set) Sample(i int, dst []float32) error {
	if s.Resident() {
		copy(dst, s.Features[i*s.Size:(i+1)*s.Size])
		return nil
	}
	ok, err := s.Cache.Read(s.Digests[i], dst)
	if err == nil && !ok {
		// The run's lease keeps its entries from eviction: this one was
		// removed by hand, or after the lease lapsed.
		err = hint.With(fmt.Errorf("features: sample %s vanished from the cache %s during the run", s.IDs[i], s.Cache.Dir()),
			"something removed it (graft cache prune spares running runs; their lease lapses when the process stops refreshing it for 2 minutes): run again, the missing features are computed")
	}
	return err
}

// Extract computes (or fetches) the features of every usable sample of ds.
// Resident features are written once, straight into the Set's buffer, so
// peak memory is one copy of them (the budget), not two.
func Extract(ctx context.Context, bb backbone.Backbone, ds *dataset.Dataset, o Options) (*Set, *Report, error) {
	x, err := newExtraction(bb, ds, o)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	bad := dataset.Hash(ctx, ds, x.o.Workers) // already hashed samples keep their digest
	for i, smp := range ds.Samples {
		x.digests[i] = ds.EntryKey(smp) // a view's own entry
	}
	x.rep.HashSeconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if x.openDevice(bad) {
		defer func() {
			if x.set.OnDevice == nil { // failed: the buffer is not handed over
				x.o.Device.Free(x.dev.buf)
			}
		}()
	}
	misses, err := x.lookup(bad)
	if err != nil {
		return nil, nil, err
	}
	x.o.Log.Info("feature cache", zap.Int("samples", ds.Len()), zap.Int("hits", x.rep.Hits), zap.Int("to_compute", len(misses)))
	if err := x.compute(ctx, misses); err != nil {
		return nil, nil, err
	}
	if x.dev != nil {
		if err := x.uploadHits(); err != nil {
			return nil, nil, err
		}
	}
	if x.cache != nil {
		if err := x.cache.Flush(); err != nil { // the hits of a run that computed nothing
			x.o.Log.Warn("feature cache: cannot count the lookups", zap.Error(err))
		}
	}
	return x.finish()
}

// extraction is one Extract call's state.
type extraction struct {
	o        Options
	bb       backbone.Backbone
	ds       *dataset.Dataset
	set      *Set
	rep      *Report
	resident bool
	// cache is o.Cache until it fails while the features are resident.
	cache   *featcache.Namespace
	digests [][sha256.Size]byte
	// have marks the samples whose features are stored (in set.Features
	// at the sample's own index while resident, else in the cache).
	have []bool
	// dev, with Options.Device, takes the computed features on the
	// device; onDev marks the samples it holds (device.go).
	dev   *deviceFill
	onDev []bool
}

func newExtraction(bb backbone.Backbone, ds *dataset.Dataset, o Options) (*extraction, error) {
	if o.Batch <= 0 {
		o.Batch = maxBatch
	}
	if o.Chunk <= 0 {
		o.Chunk = maxChunk
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	in, tap := bb.Input().Shape, bb.Tap().Shape
	if len(in) != 4 || len(tap) < 2 {
		return nil, fmt.Errorf("features: backbone input %v / tap %v: need an NHWC input and a batched tap", in, tap)
	}
	set := &Set{Shape: tap[1:], Size: 1, Cache: o.Cache}
	for _, d := range set.Shape {
		if d < 1 {
			return nil, hint.With(fmt.Errorf("features: the tap's shape %v is not fixed", tap), "choose a tap with a static shape: graft inspect --tensors MODEL shows them")
		}
		set.Size *= d
	}
	bytes := int64(ds.Len()) * int64(set.Size) * 4
	resident := o.MemoryBudget <= 0 || bytes <= o.MemoryBudget
	if !resident && o.Cache == nil {
		return nil, hint.With(fmt.Errorf("%w: %d samples need %.1f GiB of features, the budget is %.1f GiB, and there is no feature cache to stream them from", ErrBudget, ds.Len(), float64(bytes)/(1<<30), float64(o.MemoryBudget)/(1<<30)), "raise --memory-budget or enable the feature cache (--cache-dir)")
	}
	x := &extraction{
		o: o, bb: bb, ds: ds, set: set, rep: &Report{Samples: ds.Len()}, resident: resident, cache: o.Cache,
		digests: make([][sha256.Size]byte, ds.Len()), have: make([]bool, ds.Len()),
	}
	if resident {
		set.Features = make([]float32, ds.Len()*set.Size)
	}
	return x, nil
}

// cacheFailed handles a cache error: the cache is an optimisation while
// the features fit in memory, so a cache that cannot be read or written (a
// full disk) is then warned about and left alone. Streamed features need
// it: its errors stop the extraction.
func (x *extraction) cacheFailed(err error) error {
	if !x.resident {
		return err
	}
	x.o.Log.Warn("feature cache unusable; going on without it", zap.Error(err))
	x.cache = nil
	return nil
}

// slot is sample i's place in the resident features (nil when streamed).
func (x *extraction) slot(i int) []float32 {
	if !x.resident {
		return nil
	}
	return x.set.Features[i*x.set.Size : (i+1)*x.set.Size]
}

// lookup lists the bad files and fills the cache hits; it returns the
// usable samples the cache did not hold.
func (x *extraction) lookup(bad []error) ([]int, error) {
	var misses []int
	buf := make([]float32, x.set.Size)
	for i, smp := range x.ds.Samples {
		if bad[i] != nil {
			if x.o.Policy == dataset.Fail {
				return nil, fmt.Errorf("%w: %s: %v", dataset.ErrBadFile, smp.ID, bad[i])
			}
			x.rep.Bad = append(x.rep.Bad, dataset.BadFile{Path: smp.ID, Reason: bad[i].Error()})
			continue
		}
		hit := false
		if x.cache != nil {
			dst := x.slot(i)
			if dst == nil {
				dst = buf
			}
			var err error
			if hit, err = x.cache.Get(x.digests[i], dst); err != nil {
				if err = x.cacheFailed(err); err != nil {
					return nil, err
				}
			}
		}
		if !hit {
			misses = append(misses, i)
			continue
		}
		x.rep.Hits++
		x.have[i] = true
	}
	return misses, nil
}

// store keeps sample i's computed features f: in the cache (when there is
// one) and, while resident, in its slot.
func (x *extraction) store(i int, f []float32) error {
	if x.cache != nil {
		if err := x.cache.Put(x.digests[i], f); err != nil {
			if err = x.cacheFailed(err); err != nil {
				return err
			}
		}
	}
	copy(x.slot(i), f)
	x.have[i] = true
	x.rep.Computed++
	return nil
}

// finish lists the usable samples in order and moves their resident
// features to the front of the buffer, in place (a sample only moves to
// a lower index), dropping the bad samples' slots.
func (x *extraction) finish() (*Set, *Report, error) {
	set, n := x.set, 0
	if x.ds.Augment != nil { // a bad image is bad in each of its views: listed once
		seen := map[string]bool{}
		x.rep.Bad = slices.DeleteFunc(x.rep.Bad, func(b dataset.BadFile) bool {
			dup := seen[b.Path]
			seen[b.Path] = true
			return dup
		})
	}
	for i, ok := range x.have {
		if !ok {
			continue
		}
		smp := x.ds.Samples[i]
		set.Labels = append(set.Labels, int32(smp.Label))
		set.IDs = append(set.IDs, smp.ID)
		set.Digests = append(set.Digests, x.digests[i])
		if x.resident && x.dev == nil && n != i {
			copy(set.Features[n*set.Size:(n+1)*set.Size], x.slot(i))
		}
		n++
	}
	if set.Len() == 0 {
		return nil, x.rep, fmt.Errorf("%w: no usable sample in %s (%d bad files)", dataset.ErrEmpty, x.ds.Source, len(x.rep.Bad))
	}
	switch {
	case x.dev != nil:
		set.Features, set.OnDevice = nil, x.dev.buf
	case x.resident:
		set.Features = set.Features[: n*set.Size : n*set.Size]
	}
	set.Cache = x.cache // nil when it failed: the features are resident
	return set, x.rep, nil
}
