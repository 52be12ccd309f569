// Package features runs a data set through the frozen backbone once: it
// hashes every sample's encoded bytes, takes what the feature cache
// already holds, decodes and runs only the rest, and stores their features
// for the next run. It reports where the time went.
package features

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"runtime"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/dataset"
	"github.com/graft-ml/graft/internal/featcache"
	"github.com/graft-ml/graft/internal/hint"
)

// ErrBudget reports features that fit neither memory nor a cache.
var ErrBudget = errors.New("features: over the memory budget")

// Options control an extraction.
type Options struct {
	Mode    string // preprocessing, images.Modes
	Policy  dataset.BadFilePolicy
	Workers int // decoding goroutines; <= 0: GOMAXPROCS
	Batch   int // images per backbone call; <= 0: 64
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
	Device tf.DeviceCopier
}

// Report says what an extraction did.
type Report struct {
	Samples  int `json:"samples"`
	Hits     int `json:"cache_hits"`
	Computed int `json:"computed"`
	// With Options.Device: the computed features copied device to device
	// (never through the host, but for the cache's copy) and the cached
	// ones uploaded.
	DeviceCopied int               `json:"device_copied,omitempty"`
	Uploaded     int               `json:"uploaded,omitempty"`
	Bad          []dataset.BadFile `json:"bad_files,omitempty"`
	// Seconds spent hashing files, decoding images and in the backbone.
	HashSeconds     float64 `json:"hash_seconds"`
	DecodeSeconds   float64 `json:"decode_seconds"`
	BackboneSeconds float64 `json:"backbone_seconds"`
}

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
	ok, err := s.Cache.Get(s.Digests[i], dst)
	if err == nil && !ok {
		err = fmt.Errorf("features: sample %s vanished from the cache %s during the run", s.IDs[i], s.Cache.Dir())
	}
	return err
}

// Extract computes (or fetches) the features of every usable sample of ds.
func Extract(ctx context.Context, bb backbone.Backbone, ds *dataset.Dataset, o Options) (*Set, *Report, error) {
	if o.Batch <= 0 {
		o.Batch = 64
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	in, tap := bb.Input().Shape, bb.Tap().Shape
	if len(in) != 4 || len(tap) < 2 {
		return nil, nil, fmt.Errorf("features: backbone input %v / tap %v: need an NHWC input and a batched tap", in, tap)
	}
	set := &Set{Shape: tap[1:], Size: 1, Cache: o.Cache}
	for _, d := range set.Shape {
		if d < 1 {
			return nil, nil, hint.With(fmt.Errorf("features: the tap's shape %v is not fixed", tap), "choose a tap with a static shape: graft inspect --tensors MODEL shows them")
		}
		set.Size *= d
	}
	rep := &Report{Samples: ds.Len()}
	bytes := int64(ds.Len()) * int64(set.Size) * 4
	resident := o.MemoryBudget <= 0 || bytes <= o.MemoryBudget
	if !resident && o.Cache == nil {
		return nil, nil, hint.With(fmt.Errorf("%w: %d samples need %.1f GiB of features, the budget is %.1f GiB, and there is no feature cache to stream them from", ErrBudget, ds.Len(), float64(bytes)/(1<<30), float64(o.MemoryBudget)/(1<<30)), "raise --memory-budget or enable the feature cache (--cache-dir)")
	}

	start := time.Now()
	bad := dataset.Hash(ctx, ds, o.Workers) // already hashed samples keep their digest
	digests := make([][sha256.Size]byte, ds.Len())
	for i, smp := range ds.Samples {
		digests[i] = smp.Digest
	}
	rep.HashSeconds = time.Since(start).Seconds()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}

	// The cache is an optimisation while the features fit in memory: a
	// cache that cannot be read or written (a full disk) is then warned
	// about and left alone. Streamed features need it: its errors stop.
	cache := o.Cache
	cacheFailed := func(err error) error {
		if !resident {
			return err
		}
		o.Log.Warn("feature cache unusable; going on without it", zap.Error(err))
		cache = nil
		return nil
	}

	// With a device that takes the backbone's output, every usable
	// sample gets its slot in one device buffer (sample order, bad files
	// left out: slot = index - bad files before it).
	var dev *deviceFill
	if dfb, ok := bb.(tf.DeviceFeaturer); ok && o.Device != nil && resident {
		usable := 0
		for i := range ds.Samples {
			if bad[i] == nil {
				usable++
			}
		}
		if buf, err := o.Device.Alloc(max(usable, 1) * set.Size); err != nil {
			o.Log.Warn("features do not fit the device: extracting them on the host", zap.Error(err))
		} else {
			dev = &deviceFill{bb: dfb, ops: o.Device, buf: buf, slots: newSlots(bad)}
			defer func() {
				if dev != nil && set.OnDevice == nil { // failed: the buffer is not handed over
					o.Device.Free(buf)
				}
			}()
		}
	}

	// Each usable sample gets a slot; hits fill theirs from the cache.
	feats := make([][]float32, ds.Len())
	var misses []int
	buf := make([]float32, set.Size)
	for i := range ds.Samples {
		if bad[i] != nil {
			if o.Policy == dataset.Fail {
				return nil, nil, fmt.Errorf("%w: %s: %v", dataset.ErrBadFile, ds.Samples[i].ID, bad[i])
			}
			rep.Bad = append(rep.Bad, dataset.BadFile{Path: ds.Samples[i].ID, Reason: bad[i].Error()})
			continue
		}
		hit := false
		if cache != nil {
			var err error
			if hit, err = cache.Get(digests[i], buf); err != nil {
				if err = cacheFailed(err); err != nil {
					return nil, nil, err
				}
			}
		}
		if !hit {
			misses = append(misses, i)
			continue
		}
		rep.Hits++
		if resident {
			feats[i] = append([]float32(nil), buf...)
		} else {
			feats[i] = []float32{} // present, kept in the cache only
		}
	}
	o.Log.Info("feature cache", zap.Int("samples", ds.Len()), zap.Int("hits", rep.Hits), zap.Int("to_compute", len(misses)))

	// Decode and run the misses in chunks to bound memory.
	progress := func(int) {}
	if o.Progress != nil && len(misses) > 0 {
		progress = func(done int) { o.Progress(done, len(misses)) }
	}
	progress(0)
	const chunk = 2048
	for lo := 0; lo < len(misses); lo += chunk {
		part := misses[lo:min(lo+chunk, len(misses))]
		t0 := time.Now()
		dec, err := dataset.Decode(ctx, ds.Pick(part), in[1], in[2], in[3], o.Mode, o.Policy, o.Workers)
		rep.DecodeSeconds += time.Since(t0).Seconds()
		if errors.Is(err, dataset.ErrEmpty) && dec != nil { // all bad, all listed
			rep.Bad = append(rep.Bad, dec.Bad...)
			if dev != nil {
				dev.slots.decoded(part, nil)
			}
			progress(lo + len(part))
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		rep.Bad = append(rep.Bad, dec.Bad...)
		if dev != nil {
			dev.slots.decoded(part, dec.Index)
		}
		t0 = time.Now()
		for b := 0; b < dec.Len(); b += o.Batch {
			e := min(b+o.Batch, dec.Len())
			x, err := tensor.FromFloat32(dec.Images[b*in[1]*in[2]*in[3]:e*in[1]*in[2]*in[3]], e-b, in[1], in[2], in[3])
			if err != nil {
				return nil, nil, err
			}
			if dev != nil {
				idx := make([]int, e-b)
				for j := b; j < e; j++ {
					idx[j-b] = part[dec.Index[j]]
				}
				if err := dev.run(ctx, x, idx, cache, digests, cacheFailed, rep); err != nil {
					return nil, nil, fmt.Errorf("features: backbone on %s...: %w", dec.IDs[b], err)
				}
				for _, i := range idx {
					feats[i] = []float32{} // on the device
				}
				rep.Computed += len(idx)
				progress(lo + len(dec.Bad) + e)
				continue
			}
			out, err := bb.Features(ctx, x)
			if err != nil {
				return nil, nil, fmt.Errorf("features: backbone on %s...: %w", dec.IDs[b], err)
			}
			if out.Len() != (e-b)*set.Size {
				return nil, nil, fmt.Errorf("features: backbone returned %v for %d images, expected %v per image", out.Shape, e-b, set.Shape)
			}
			for j := b; j < e; j++ {
				f := out.F32[(j-b)*set.Size : (j-b+1)*set.Size]
				i := part[dec.Index[j]]
				if cache != nil {
					if err := cache.Put(digests[i], f); err != nil {
						if err = cacheFailed(err); err != nil {
							return nil, nil, err
						}
					}
				}
				if resident {
					feats[i] = append([]float32(nil), f...)
				} else {
					feats[i] = []float32{}
				}
				rep.Computed++
			}
			progress(lo + len(dec.Bad) + e) // the chunk's bad files count as done
		}
		rep.BackboneSeconds += time.Since(t0).Seconds()
	}

	if dev != nil {
		if err := dev.uploadHits(feats, set.Size, rep); err != nil {
			return nil, nil, err
		}
	}
	for i, f := range feats {
		if f == nil {
			continue
		}
		set.Labels = append(set.Labels, int32(ds.Samples[i].Label))
		set.IDs = append(set.IDs, ds.Samples[i].ID)
		set.Digests = append(set.Digests, digests[i])
		if resident && dev == nil {
			set.Features = append(set.Features, f...)
		}
	}
	if set.Len() == 0 {
		return nil, rep, fmt.Errorf("%w: no usable sample in %s (%d bad files)", dataset.ErrEmpty, ds.Source, len(rep.Bad))
	}
	if resident && set.Features == nil && dev == nil {
		set.Features = []float32{}
	}
	set.Cache = cache // nil when it failed: the features are resident
	if dev != nil {
		set.OnDevice = dev.buf
	}
	return set, rep, nil
}
