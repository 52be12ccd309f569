package daemon_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/infer/predict"
)

// reportLatency adds p50 and p99 of ds (milliseconds) and, for a batch
// size, images/s.
func reportLatency(b *testing.B, ds []time.Duration, batch int) {
	slices.Sort(ds)
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	b.ReportMetric(q(0.5), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
	if batch > 0 {
		b.ReportMetric(float64(batch*len(ds))/sum.Seconds(), "images/s")
	}
}

// BenchmarkSubmitToFirstStep is the daemon's overhead before training:
// submit, queue, worker start, backbone load, features (cached after the
// first job), first step event seen over SSE.
func BenchmarkSubmitToFirstStep(b *testing.B) {
	f := newFixture(b, 5)
	s := startServer(b, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	var ds []time.Duration
	for i := 0; i < b.N; i++ {
		start := time.Now()
		j, err := s.Submit(ctx, f.spec(1))
		if err != nil {
			b.Fatal(err)
		}
		var first time.Duration
		s.Events(ctx, j.ID, 0, true, func(e api.JobEvent) error {
			if e.Type == "step" && first == 0 {
				first = time.Since(start)
			}
			return nil
		})
		ds = append(ds, first)
	}
	reportLatency(b, ds, 0)
}

// BenchmarkPredict compares predict through the API (HTTP, JSON, base64,
// decode) with the same work in-process (decode + classifier).
func BenchmarkPredict(b *testing.B) {
	f := newFixture(b, 5)
	s := startServer(b, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	req := f.spec(2)
	req.Model = "bench"
	j, err := s.Submit(ctx, req)
	if err != nil {
		b.Fatal(err)
	}
	s.Events(ctx, j.ID, 0, true, func(api.JobEvent) error { return nil })
	paths, _ := filepath.Glob(filepath.Join(f.data, "*", "*.png"))
	var raw [][]byte
	for _, p := range paths[:32] {
		bs, _ := os.ReadFile(p)
		raw = append(raw, bs)
	}
	run, err := s.Job(ctx, j.ID)
	if err != nil || run.State != api.Succeeded {
		b.Fatalf("job %+v: %v", run, err)
	}
	t, err := predict.LoadRun(run.RunDir)
	if err != nil {
		b.Fatal(err)
	}
	defer t.Close()
	cls := t.Classifier()
	h, w, c, _ := predict.InputSize(cls)
	for _, batch := range []int{1, 32} {
		imgs := make([]api.Image, batch)
		for i := range imgs {
			imgs[i].B64 = base64.StdEncoding.EncodeToString(raw[i])
		}
		b.Run(fmt.Sprintf("api/batch=%d", batch), func(b *testing.B) {
			var ds []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				if _, err := s.Predict(ctx, "bench", 0, api.PredictRequest{Instances: imgs}); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			reportLatency(b, ds, batch)
		})
		b.Run(fmt.Sprintf("inprocess/batch=%d", batch), func(b *testing.B) {
			var ds []time.Duration
			for i := 0; i < b.N; i++ {
				start := time.Now()
				var data []float32
				for _, r := range raw[:batch] {
					x, err := images.FromBytes(r, h, w, c, t.Config.Preprocess, 0)
					if err != nil {
						b.Fatal(err)
					}
					data = append(data, x...)
				}
				in, _ := tensor.FromFloat32(data, batch, h, w, c)
				if _, err := cls.Predict(ctx, in); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			reportLatency(b, ds, batch)
		})
	}
}
