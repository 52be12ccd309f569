package daemon_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/data/images/bomb"
)

// trainModel runs a tiny job to the end and returns its model.
func trainModel(t *testing.T, s *testServer, f fixture, name string) *api.Job {
	t.Helper()
	req := f.spec(1)
	req.Model = name
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s: %s %s", j.ID, j.State, j.Error)
	}
	return j
}

// digitImages are n of the fixture's PNGs, base64-encoded.
func digitImages(t *testing.T, f fixture, n int) []api.Image {
	t.Helper()
	ps, _ := filepath.Glob(filepath.Join(f.data, "*", "*.png"))
	var imgs []api.Image
	for _, p := range ps[:n] {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		imgs = append(imgs, api.Image{B64: base64.StdEncoding.EncodeToString(b)})
	}
	return imgs
}

// pngBomb is a valid gray PNG of w x h black pixels: a few KB that decode
// to w*h bytes and more.
func pngBomb(t *testing.T, w, h int) []byte {
	t.Helper()
	return bomb.FullPNG(uint32(w), uint32(h))
}

// Issue 11, defect 5: an image over the pixel cap is refused from its
// header (413, saying why) before it is decoded; a request whose images
// would take more memory to decode than the predict budget gets 413 too;
// what fits is answered.
func TestPredictImageLimits(t *testing.T) {
	f := newFixture(t, 3)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxImagePixels: 1_000_000, PredictMemory: 50_000})
	trainModel(t, s, f, "digits")
	ctx := context.Background()
	bomb := api.Image{B64: base64.StdEncoding.EncodeToString(pngBomb(t, 2000, 2000))}
	for _, c := range []struct {
		name string
		imgs []api.Image
		code int
		want string
	}{
		{"fits", digitImages(t, f, 4), 200, ""},
		{"bomb", []api.Image{bomb}, 413, "2000x2000 is 4000000 pixels, over the limit of 1000000 (--max-image-pixels)"},
		{"bomb after a good one", append(digitImages(t, f, 1), bomb), 413, "image 1: "},
		{"over the memory budget", digitImages(t, f, 20), 413, "predict-memory"},
		{"a header that is no image", []api.Image{{B64: base64.StdEncoding.EncodeToString([]byte("GIF89a..."))}}, 400, "header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.Predict(ctx, "digits", 0, api.PredictRequest{Instances: c.imgs})
			if c.code == 200 {
				if err != nil || len(res.Predictions) != len(c.imgs) {
					t.Errorf("%v, %+v", err, res)
				}
				return
			}
			if apiStatus(err) != c.code || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v; want %d saying %q", err, c.code, c.want)
			}
		})
	}
}

// Issue 11, defect 7: a request keeps its model alive. With room for one
// model and clients alternating between two versions, every model is
// evicted while others use it, and every prediction is still answered.
func TestModelCacheEvictionUnderLoad(t *testing.T) {
	f := newFixture(t, 3)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, ModelCacheSize: 1})
	trainModel(t, s, f, "m")
	trainModel(t, s, f, "m")
	imgs := digitImages(t, f, 2)
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 12 {
				v := 1 + (g+i)%2
				res, err := s.Predict(context.Background(), "m", v, api.PredictRequest{Instances: imgs})
				if err == nil && len(res.Predictions) != len(imgs) {
					err = fmt.Errorf("%d rows", len(res.Predictions))
				}
				if err != nil {
					errs <- fmt.Errorf("version %d: %w", v, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n <= 3 {
			t.Error(err)
		}
	}
	if n > 0 {
		t.Errorf("%d of 96 predictions failed", n)
	}
}
