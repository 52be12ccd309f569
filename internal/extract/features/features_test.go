package features

import (
	"context"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/extract/featcache"
)

// fixture is an image folder of 28x28 grayscale PNGs in two classes, with
// each usable image's pixels as the unit preprocessing makes them (x/255),
// computed here from the pixels written, not by graft's decoder.
type fixture struct {
	dir  string
	unit map[string][]float32 // sample ID -> pixels/255
}

// writeFixture writes n images per class; badAt names images (by their
// position in sorted order) written as broken PNGs.
func writeFixture(t *testing.T, n int, badAt ...int) fixture {
	t.Helper()
	fx := fixture{dir: t.TempDir(), unit: map[string][]float32{}}
	r := rand.New(rand.NewPCG(3, 4))
	var paths []string
	for _, class := range []string{"a", "b"} {
		if err := os.MkdirAll(filepath.Join(fx.dir, class), 0o755); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			paths = append(paths, filepath.Join(fx.dir, class, fmt.Sprintf("%02d.png", i)))
		}
	}
	sort.Strings(paths)
	for k, p := range paths {
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		bad := false
		for _, b := range badAt {
			bad = bad || b == k
		}
		if bad {
			_, err = f.WriteString("not a png")
		} else {
			img := image.NewGray(image.Rect(0, 0, 28, 28))
			px := make([]float32, 28*28)
			for i := range px {
				v := uint8(r.IntN(256))
				img.SetGray(i%28, i/28, color.Gray{Y: v})
				px[i] = float32(v) / 255
			}
			fx.unit[p] = px
			err = png.Encode(f, img)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return fx
}

// TestExtract runs real images through a real SavedModel (the Fashion-MNIST
// CNN on the native engine) and checks every sample's features against the
// backbone run on that image alone, from pixels computed by the test.
func TestExtract(t *testing.T) {
	bb, err := native.Open("../../../testdata/models/fashion_cnn", native.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	oracle := func(t *testing.T, px []float32) []float32 {
		x, err := tensor.FromFloat32(append([]float32(nil), px...), 1, 28, 28, 1)
		if err != nil {
			t.Fatal(err)
		}
		y, err := bb.Features(ctx, x)
		if err != nil {
			t.Fatal(err)
		}
		return y.F32
	}
	cacheAt := func(t *testing.T, dir string) *featcache.Namespace {
		ns, err := featcache.Open(dir, featcache.Key{Backbone: "fashion_cnn", Preprocess: "unit", Input: []int{28, 28, 1}}, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		return ns
	}
	cases := []struct {
		name     string
		perClass int
		badAt    []int
		batch    int
		chunk    int // decoded at once; parts of half of it run ahead of the backbone
		budget   int64
		cache    bool
		policy   dataset.BadFilePolicy
		runs     int   // Extract calls on the same cache
		wantErr  error // from the last run
		resident bool
		hits     int // in the last run
		cancel   bool
	}{
		{name: "resident, no cache, batches of 3", perClass: 4, batch: 3, runs: 1, resident: true},
		{name: "cache cold then warm", perClass: 4, batch: 64, cache: true, runs: 2, resident: true, hits: 8},
		{name: "over the budget: streamed from the cache", perClass: 3, batch: 2, budget: 100, cache: true, runs: 1},
		{name: "over the budget without a cache", perClass: 3, batch: 2, budget: 100, runs: 1, wantErr: ErrBudget},
		{name: "bad files skipped, order kept", perClass: 4, badAt: []int{0, 3, 6}, batch: 2, runs: 1, resident: true},
		{name: "bad files skipped, streamed", perClass: 4, badAt: []int{5}, batch: 4, budget: 100, cache: true, runs: 1},
		{name: "bad file fails", perClass: 2, badAt: []int{1}, batch: 2, policy: dataset.Fail, runs: 1, wantErr: dataset.ErrBadFile},
		// Decoded parts of 2 (the first is one batch, the others half a
		// chunk): the first and the third are all bad files.
		{name: "decoded parts all bad, the others kept", perClass: 4, badAt: []int{0, 1, 4, 5}, batch: 2, chunk: 4, runs: 1, resident: true},
		{name: "bad file in a part decoded ahead fails", perClass: 4, badAt: []int{6}, batch: 2, chunk: 4, policy: dataset.Fail, runs: 1, wantErr: dataset.ErrBadFile},
		{name: "cancelled", perClass: 4, batch: 2, chunk: 4, runs: 1, cancel: true, wantErr: context.Canceled},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			fx := writeFixture(t, tc.perClass, tc.badAt...)
			cacheDir := t.TempDir()
			var set *Set
			var rep *Report
			var err error
			for range tc.runs {
				ds, derr := dataset.Open(fx.dir, dataset.Options{})
				if derr != nil {
					t.Fatal(derr)
				}
				o := Options{Mode: "unit", Policy: tc.policy, Batch: tc.batch, Chunk: tc.chunk, MemoryBudget: tc.budget}
				if tc.cache {
					o.Cache = cacheAt(t, cacheDir)
				}
				ctx := ctx
				if tc.cancel {
					c, cancel := context.WithCancel(ctx)
					cancel()
					ctx = c
				}
				set, rep, err = Extract(ctx, bb, ds, o)
			}
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			usable := 2*tc.perClass - len(tc.badAt)
			if set.Len() != usable || set.Resident() != tc.resident || rep.Hits != tc.hits || rep.Computed != usable-tc.hits || len(rep.Bad) != len(tc.badAt) {
				t.Fatalf("%d samples (resident %v), report %+v; want %d samples (resident %v), %d hits, %d bad", set.Len(), set.Resident(), rep, usable, tc.resident, tc.hits, len(tc.badAt))
			}
			if tc.resident && (len(set.Features) != usable*set.Size || cap(set.Features) != usable*set.Size) {
				t.Errorf("resident features: len %d cap %d, want %d", len(set.Features), cap(set.Features), usable*set.Size)
			}
			prev := ""
			got := make([]float32, set.Size)
			for i, id := range set.IDs {
				if id <= prev {
					t.Fatalf("samples out of order: %s after %s", id, prev)
				}
				prev = id
				px, ok := fx.unit[id]
				if !ok {
					t.Fatalf("sample %s is not a usable image", id)
				}
				want := map[string]int32{"a": 0, "b": 1}[filepath.Base(filepath.Dir(id))]
				if set.Labels[i] != want {
					t.Fatalf("sample %s has label %d, want %d", id, set.Labels[i], want)
				}
				if err := set.Sample(i, got); err != nil {
					t.Fatal(err)
				}
				for j, w := range oracle(t, px) {
					if math.Abs(float64(got[j]-w)) > 1e-5*math.Max(1, math.Abs(float64(w))) {
						t.Fatalf("sample %s feature %d = %v, want %v", id, j, got[j], w)
					}
				}
			}
		})
	}
}
