package features

import (
	"context"
	"math"
	"os"
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/util/gemm"
)

// TestPlanFor: batch and chunk worked out by hand from the budget's
// eighth, half of it for the backbone's run and half for decoded images;
// the backbone's fixed bytes are in the total, and change no size.
func TestPlanFor(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name         string
		n            int
		perImage     int64
		fixed        int64
		pixels       int
		budget       int64
		batch, chunk int
	}{
		// MobileNetV2 at 224: 13.6 MiB an image, 224*224*3 floats. 4 GiB:
		// 256 MiB each half: 18 images a batch, 445 decoded -> 432.
		{"mobilenet default budget", 5000, 14275072, 0, 224 * 224 * 3, 4 << 30, 18, 432},
		// ResNet50's 441 MB of weights, copies and scratch: counted, the
		// sizes as without them: 256 MiB / 11 MiB = 23 a batch, 445
		// decoded -> 437.
		{"fixed bytes change no size", 5000, 11 * mib, 441 << 20, 224 * 224 * 3, 4 << 30, 23, 437},
		{"mobilenet 1 GiB", 5000, 14275072, 0, 224 * 224 * 3, 1 << 30, 4, 108},
		{"a budget under one image still runs one", 5000, 14275072, 0, 224 * 224 * 3, 8 * mib, 1, 1},
		{"small images: the old fixed sizes", 5000, 75264, 0, 28 * 28, 4 << 30, 64, 2048},
		{"no budget: the old fixed sizes", 5000, 14275072, 0, 224 * 224 * 3, 0, 64, 2048},
		{"fewer samples than a batch", 30, 75264, 0, 28 * 28, 4 << 30, 30, 30},
		{"chunk a whole number of batches", 1001, 10 * mib, 0, 100, 1280 * mib, 8, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := PlanFor(tc.n, tc.perImage, tc.fixed, tc.pixels, tc.budget)
			if p.Batch != tc.batch || p.Chunk != tc.chunk {
				t.Fatalf("plan %+v; want batch %d, chunk %d", p, tc.batch, tc.chunk)
			}
			if want := tc.fixed + int64(tc.batch)*tc.perImage + int64(tc.chunk)*4*int64(tc.pixels); p.Bytes != want || p.Fixed != tc.fixed {
				t.Errorf("bytes %d; want %d", p.Bytes, want)
			}
			if tc.budget > 0 && tc.batch > 1 && p.Bytes-p.Fixed > Share(tc.budget) {
				t.Errorf("bytes %d over the share %d", p.Bytes, Share(tc.budget))
			}
		})
	}
}

// TestFeaturesDoNotDependOnTheBatch extracts the same images at batches
// of 1, 7 and 64 (and chunks that split the batches differently) and
// compares the features bit for bit: a plan may pick any batch. The
// fixture CNN always; MobileNetV2 (depthwise, pointwise GEMMs, batch
// norm folded) from the zoo when it is built.
func TestFeaturesDoNotDependOnTheBatch(t *testing.T) {
	models := []struct {
		dir string
		o   native.Options
	}{
		{"../../../testdata/models/fashion_cnn", native.Options{}},
		{"../../../build/zoo/MobileNetV2/keras3/model", native.Options{Tap: "block_11_depthwise_relu"}},
	}
	fx := writeFixture(t, 40)
	for _, m := range models {
		if _, err := os.Stat(m.dir); err != nil {
			t.Logf("skipped %s: %v", m.dir, err)
			continue
		}
		bb, err := native.Open(m.dir, m.o)
		if err != nil {
			t.Fatal(err)
		}
		var ref []float32
		for _, o := range []Options{{Batch: 1}, {Batch: 7, Chunk: 21}, {Batch: 64}, {Batch: 7, Chunk: 10}} {
			got := extractAll(t, bb, fx.dir, o)
			if ref == nil {
				ref = got
				continue
			}
			for i := range ref {
				// OpenBLAS blocks by size (gemm.BatchInvariant): the last
				// bits may move with the batch, nothing more.
				if math.Float32bits(got[i]) != math.Float32bits(ref[i]) && (gemm.BatchInvariant || math.Abs(float64(got[i]-ref[i])) > 1e-5*(1+math.Abs(float64(ref[i])))) {
					t.Fatalf("%s: batch %d, chunk %d: float %d of the features is %v; at batch 1 %v (%s GEMM)", m.dir, o.Batch, o.Chunk, i, got[i], ref[i], gemm.Backend)
				}
			}
		}
	}
}

func extractAll(t *testing.T, bb backbone.Backbone, dir string, o Options) []float32 {
	t.Helper()
	ds, err := dataset.Open(dir, dataset.Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.Mode = "unit"
	set, _, err := Extract(context.Background(), bb, ds, o)
	if err != nil {
		t.Fatal(err)
	}
	return set.Features
}
