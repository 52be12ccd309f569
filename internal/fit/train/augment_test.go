package train

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"

	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// Augmented views: each computed once (K rows per training image, one
// per validation image), found again by a later run, streamed like
// resident features, keyed by the spec (view 0 shared with runs without
// augmentation); the counts are worked out by hand from 40 training and
// 10 validation images.
func TestAugmentedViews(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 5) // 50 images: 40 train, 10 val
	ctx := context.Background()
	cfg := func(augment string, views int) Config {
		c := smallConfig(t, data, 3)
		c.Augment, c.Views = augment, views
		return c
	}
	first := cfg("rotation=0.1,contrast=0.2", 3)
	s, err := Run(ctx, first, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.TrainSamples != 40 || s.ValSamples != 10 || s.CacheComputed != 40*3+10 || s.CacheHits != 0 {
		t.Fatalf("first run: %d train, %d val samples, %d computed, %d hits; want 40, 10, 130, 0", s.TrainSamples, s.ValSamples, s.CacheComputed, s.CacheHits)
	}
	want := params(t, filepath.Join(first.Out, rundir.LastCkpt))

	// The same views from the cache, streamed: the same head.
	again := cfg("rotation=0.1,contrast=0.2", 3)
	again.CacheDir, again.MemoryBudget = first.CacheDir, 1
	if s, err = Run(ctx, again, Options{}); err != nil || s.CacheComputed != 0 || s.CacheHits != 130 {
		t.Fatalf("second run: %v, %d computed, %d hits; want 0, 130", err, s.CacheComputed, s.CacheHits)
	}
	equalParams(t, "views streamed from the cache vs computed and resident", params(t, filepath.Join(again.Out, rundir.LastCkpt)), want)

	// Another spec: views 1 and 2 are new, view 0 and validation are not.
	other := cfg("rotation=0.2", 3)
	other.CacheDir = first.CacheDir
	if s, err = Run(ctx, other, Options{}); err != nil || s.CacheComputed != 40*2 || s.CacheHits != 50 {
		t.Fatalf("other spec: %v, %d computed, %d hits; want 80, 50", err, s.CacheComputed, s.CacheHits)
	}
	// Without augmentation: every feature is view 0's.
	plain := cfg("", 0)
	plain.CacheDir = first.CacheDir
	if s, err = Run(ctx, plain, Options{}); err != nil || s.CacheComputed != 0 || s.CacheHits != 50 {
		t.Fatalf("no augmentation: %v, %d computed, %d hits; want 0, 50", err, s.CacheComputed, s.CacheHits)
	}
	if slices.Equal(params(t, filepath.Join(plain.Out, rundir.LastCkpt)), want) {
		t.Error("training on augmented views gave the head of training without them")
	}
}

// A resumed run with views trains each epoch on the views the
// uninterrupted run did: the same head.
func TestAugmentedResumeEqualsUninterrupted(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	ctx := context.Background()
	cfg := func() Config {
		c := smallConfig(t, data, 3)
		c.Augment, c.Views = "flip,translation=0.1", 3
		return c
	}
	straight := cfg()
	if _, err := Run(ctx, straight, Options{}); err != nil {
		t.Fatal(err)
	}
	cut := cfg()
	cut.CacheDir = straight.CacheDir
	cctx, cancel := context.WithCancel(ctx)
	if _, err := Run(cctx, cut, Options{Progress: func(e Event) {
		if e.Kind == "epoch" && e.Epoch == 1 {
			cancel()
		}
	}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted run: %v", err)
	}
	if _, err := Run(ctx, Config{Out: cut.Out}, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	equalParams(t, "resumed vs uninterrupted, with views", params(t, filepath.Join(cut.Out, rundir.LastCkpt)), params(t, filepath.Join(straight.Out, rundir.LastCkpt)))
}
