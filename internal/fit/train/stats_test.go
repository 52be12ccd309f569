package train

import (
	"context"
	"image"
	"image/color"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// statPixels are n seeded 8x8 RGB images, each channel uniform in its own
// range, [N 8 8 3] as raw values.
func statPixels(n int) []float32 {
	r := rand.New(rand.NewPCG(7, 7))
	lo, hi := [3]int{20, 60, 0}, [3]int{250, 200, 160}
	px := make([]float32, n*8*8*3)
	for i := range px {
		c := i % 3
		px[i] = float32(lo[c] + r.IntN(hi[c]-lo[c]+1))
	}
	return px
}

// modeStats are the per-channel mean and variance of raw pixels with
// channel means m and variances v once preprocessed in mode, by the
// Keras formulas written out by hand (caffe: BGR order).
func modeStats(mode string, m, v [3]float64) (mean, variance [3]float64) {
	for j := range 3 {
		switch mode {
		case "raw":
			mean[j], variance[j] = m[j], v[j]
		case "unit":
			mean[j], variance[j] = m[j]/255, v[j]/(255*255)
		case "tf":
			mean[j], variance[j] = m[j]/127.5-1, v[j]/(127.5*127.5)
		case "torch":
			tm, ts := [3]float64{0.485, 0.456, 0.406}, [3]float64{0.229, 0.224, 0.225}
			mean[j], variance[j] = (m[j]/255-tm[j])/ts[j], v[j]/(255*255*ts[j]*ts[j])
		case "caffe":
			cm := [3]float64{123.68, 116.779, 103.939}
			mean[j], variance[j] = m[2-j]-cm[2-j], v[2-j]
		}
	}
	return mean, variance
}

// bnModel writes a model whose first batch norm reads its input through
// an identity 1x1 convolution, with the moving statistics of pixels
// preprocessed in mode: auto must find mode.
func bnModel(t *testing.T, px []float32, mode string) string {
	t.Helper()
	var m, v [3]float64
	n := float64(len(px) / 3)
	for i, x := range px {
		m[i%3] += float64(x) / n
	}
	for i, x := range px {
		d := float64(x) - m[i%3]
		v[i%3] += d * d / n
	}
	mean, variance := modeStats(mode, m, v)
	vec := func(x [3]float64) *tensor.Tensor {
		t, _ := tensor.FromFloat32([]float32{float32(x[0]), float32(x[1]), float32(x[2])}, 3)
		return t
	}
	eye, _ := tensor.FromFloat32([]float32{1, 0, 0, 0, 1, 0, 0, 0, 1}, 1, 1, 3, 3)
	dense := tensor.New(tensor.Float32, 3, 2)
	spec, err := savedmodel.NewSequential("sequential", "input_1", -1, 8, 8, 3).
		Conv2D("conv2d", eye, tensor.New(tensor.Float32, 3), 1, "VALID", "").
		BatchNorm("batch_normalization", vec([3]float64{1, 1, 1}), vec([3]float64{}), vec(mean), vec(variance), 1e-3).
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", dense, tensor.New(tensor.Float32, 2), "softmax").Spec()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := savedmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// For each mode, a backbone whose batch-norm statistics are those of the
// images preprocessed that way: auto picks that mode, at distance ~0.
func TestAutoReadsBatchNormStatistics(t *testing.T) {
	px := statPixels(16)
	pixels, err := tensor.FromFloat32(px, 16, 8, 8, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"raw", "unit", "tf", "torch", "caffe"} {
		t.Run(mode, func(t *testing.T) {
			m, err := savedmodel.Load(bnModel(t, px, mode))
			if err != nil {
				t.Fatal(err)
			}
			g, err := m.FlattenSignature("")
			if err != nil {
				t.Fatal(err)
			}
			ch, _, st, err := ChooseFor(context.Background(), g, inspect.Auto, pixels)
			if err != nil {
				t.Fatal(err)
			}
			if ch.Mode != mode || ch.Warn || st == nil || st.Images != 16 || !strings.HasSuffix(st.Layer, "sequential/batch_normalization/FusedBatchNormV3") {
				t.Fatalf("auto = %s (warn %v, stats %+v): %s; want %s", ch.Mode, ch.Warn, st, ch.Reason, mode)
			}
			if d := st.Distances[mode]; d > 1e-4 {
				t.Errorf("distance under %s = %g, want ~0", mode, d)
			}
			// A mode given stays, statistics unread.
			if ch, _, st, _ := ChooseFor(context.Background(), g, "unit", pixels); ch.Mode != "unit" || st != nil {
				t.Errorf("--preprocess unit: %s, stats %+v", ch.Mode, st)
			}
		})
	}
}

// Statistics between two modes (half-way from tf's to unit's means) do
// not decide: auto keeps unit with its warning and says why.
func TestAutoStatisticsNearTieWarns(t *testing.T) {
	px := statPixels(16)
	pixels, _ := tensor.FromFloat32(px, 16, 8, 8, 3)
	m, err := savedmodel.Load(bnModel(t, px, "unit"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := m.FlattenSignature("")
	if err != nil {
		t.Fatal(err)
	}
	// Overwrite the moving statistics with ones as far from unit's as
	// from tf's: the mean of the two, the variance their geometric mean.
	var mu, va [3]float64
	for i, x := range px {
		mu[i%3] += float64(x) / float64(len(px)/3)
	}
	for i, x := range px {
		d := float64(x) - mu[i%3]
		va[i%3] += d * d / float64(len(px)/3)
	}
	um, uv := modeStats("unit", mu, va)
	tm, tv := modeStats("tf", mu, va)
	for name, c := range g.Consts {
		switch filepath.Base(name) {
		case "ReadVariableOp", "ReadVariableOp_1":
			if g.Variables[name] == "" || len(c.F32) != 3 {
				continue
			}
			for j := range 3 {
				if filepath.Base(filepath.Dir(name)) == "FusedBatchNormV3" && filepath.Base(name) == "ReadVariableOp" {
					c.F32[j] = float32((um[j] + tm[j]) / 2)
				}
				if filepath.Base(filepath.Dir(name)) == "FusedBatchNormV3_1" {
					c.F32[j] = float32(math.Sqrt(uv[j] * tv[j]))
				}
			}
		}
	}
	ch, _, st, err := ChooseFor(context.Background(), g, inspect.Auto, pixels)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil || !ch.Warn || ch.Mode != "unit" {
		t.Fatalf("auto = %s (warn %v, stats %+v): %s; want unit with a warning", ch.Mode, ch.Warn, st, ch.Reason)
	}
	t.Log(ch.Reason)
}

// graft train reads the statistics with the training split's images (12
// of the 16) and records the distances in config.json, with the mode they
// chose and why.
func TestTrainRecordsPreprocessStats(t *testing.T) {
	px := statPixels(16)
	data := t.TempDir()
	for i := range 16 {
		img := image.NewNRGBA(image.Rect(0, 0, 8, 8))
		for p := range 64 {
			o := (i*64 + p) * 3
			img.Set(p%8, p/8, color.NRGBA{uint8(px[o]), uint8(px[o+1]), uint8(px[o+2]), 255})
		}
		dir := filepath.Join(data, []string{"a", "b"}[i%2])
		os.MkdirAll(dir, 0o755)
		f, err := os.Create(filepath.Join(dir, string(rune('a'+i))+".png"))
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	cfg := Config{Backbone: bnModel(t, px, "torch"), Tap: "conv2d", Data: data, Head: "linear", ValSplit: 0.25,
		Epochs: 1, CacheDir: "none", Out: filepath.Join(t.TempDir(), "run")}
	if _, err := Run(context.Background(), cfg, Options{}); err != nil {
		t.Fatal(err)
	}
	var rec Config
	if err := rundir.ReadJSON(cfg.Out, rundir.ConfigFile, &rec); err != nil {
		t.Fatal(err)
	}
	st := rec.PreprocessStats
	if rec.Preprocess != "torch" || st == nil || st.Images != 12 || len(st.Distances) != 5 || st.Distances["torch"] > 1e-2 || !strings.Contains(rec.PreprocessReason, "batch norm") {
		t.Fatalf("config.json: preprocess %q (%s), stats %+v; want torch from 12 images", rec.Preprocess, rec.PreprocessReason, st)
	}
}
