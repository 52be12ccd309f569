package predict

import (
	"context"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/util/safetensors"
)

func TestTopK(t *testing.T) {
	for _, c := range []struct {
		name string
		v    []float32
		k    int
		want []int // indices, best first
	}{
		{"ordered", []float32{0.1, 0.7, 0.2}, 2, []int{1, 2}},
		{"ties by index", []float32{0.5, 0.2, 0.5, 0.5}, 3, []int{0, 2, 3}},
		{"k past the end", []float32{3, 1, 2}, 10, []int{0, 2, 1}},
		{"negative", []float32{-3, -1, -2}, 1, []int{1}},
		{"empty", nil, 3, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got := TopK(c.v, c.k)
			var idx []int
			for _, s := range got {
				idx = append(idx, s.Index)
				if s.Score != c.v[s.Index] {
					t.Errorf("score of %d: %g, want %g", s.Index, s.Score, c.v[s.Index])
				}
			}
			if !slices.Equal(idx, c.want) {
				t.Errorf("TopK(%v, %d) indices %v, want %v", c.v, c.k, idx, c.want)
			}
		})
	}
}

// identity is a backbone whose tap is its input: the features of an
// image are its pixels.
type identity struct{ spec backbone.TensorSpec }

func (m identity) Input() backbone.TensorSpec { return m.spec }
func (m identity) Tap() backbone.TensorSpec   { return m.spec }
func (m identity) Close() error               { return nil }
func (m identity) Features(_ context.Context, b *tensor.Tensor) (*tensor.Tensor, error) {
	return b, nil
}

func spec(h, w, c int, dt tensor.DType) backbone.TensorSpec {
	return backbone.TensorSpec{Name: "x", DType: dt, Shape: []int{-1, h, w, c}}
}

func TestInputSizeRefusals(t *testing.T) {
	for _, c := range []struct {
		name string
		spec backbone.TensorSpec
		want string // "" accepted
	}{
		{"rgb", spec(4, 5, 3, tensor.Float32), ""},
		{"gray", spec(4, 5, 1, tensor.Float32), ""},
		{"open size", spec(-1, -1, 3, tensor.Float32), "does not fix the image size"},
		{"four channels", spec(4, 4, 4, tensor.Float32), "gray (1) or RGB (3)"},
		{"uint8", spec(4, 4, 3, tensor.Uint8), "graft feeds float32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, w, ch, err := InputSize(FromBackbone(identity{c.spec}))
			if c.want == "" {
				if err != nil || h != c.spec.Shape[1] || w != c.spec.Shape[2] || ch != c.spec.Shape[3] {
					t.Errorf("%v: %d %d %d, %v", c.spec.Shape, h, w, ch, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("%v: err %v, want one saying %q", c.spec.Shape, err, c.want)
			}
		})
	}
}

func writeGray(t *testing.T, path string, v uint8) {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 3, 3))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
}

// TestImagesBatchesAndBadFiles: every file gets its own result in order,
// across batches; a file that is no image fails only its own. The oracle
// is the pixel value each uniform image was written with (raw mode).
func TestImagesBatchesAndBadFiles(t *testing.T) {
	dir := t.TempDir()
	grays := []uint8{10, 20, 0, 40, 250} // index 2 is not an image
	var paths []string
	for i, g := range grays {
		p := filepath.Join(dir, string(rune('a'+i))+".png")
		if i == 2 {
			if err := os.WriteFile(p, []byte("not a png"), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			writeGray(t, p, g)
		}
		paths = append(paths, p)
	}
	res, err := Images(context.Background(), FromBackbone(identity{spec(2, 2, 1, tensor.Float32)}), paths, "raw", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(paths) {
		t.Fatalf("%d results for %d files", len(res), len(paths))
	}
	for i, r := range res {
		if r.Input != paths[i] {
			t.Errorf("result %d is of %s, want %s", i, r.Input, paths[i])
		}
		if i == 2 {
			if r.Err == nil || r.Output != nil {
				t.Errorf("the file that is no image: output %v, err %v", r.Output, r.Err)
			}
			continue
		}
		want := []float32{float32(grays[i]), float32(grays[i]), float32(grays[i]), float32(grays[i])}
		if r.Err != nil || !slices.Equal(r.Output, want) {
			t.Errorf("%s: output %v, err %v; want %v", paths[i], r.Output, r.Err, want)
		}
	}
}

// headWith is a head of spec whose parameters are the given tensors
// (by layout name), loaded the way a run's head.safetensors is.
func headWith(t *testing.T, spec head.Spec, params map[string][]float32) *head.Model {
	t.Helper()
	opt, err := head.NewOptimizer(head.Adam)
	if err != nil {
		t.Fatal(err)
	}
	m, err := head.New(head.NewCPUOps(), spec, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "head.safetensors")
	err = m.SaveWeights(path, nil)
	m.Close()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	var ts []safetensors.Tensor
	for _, lt := range spec.Layout().Tensors {
		p, ok := params[lt.Name]
		if !ok || len(p) != lt.Size {
			t.Fatalf("%s: %d values given, the layout needs %d", lt.Name, len(p), lt.Size)
		}
		ts = append(ts, safetensors.Tensor{Name: lt.Name, Shape: lt.Shape, Data: p})
	}
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := safetensors.Write(out, ts, f.Metadata); err != nil {
		t.Fatal(err)
	}
	out.Close()
	m, _, err = head.Load(head.NewCPUOps(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func softmax(z []float64) []float64 {
	mx := slices.Max(z)
	var sum float64
	out := make([]float64, len(z))
	for i, v := range z {
		out[i] = math.Exp(v - mx)
		sum += out[i]
	}
	for i := range out {
		out[i] /= sum
	}
	return out
}

// TestClassifierByHand: a trained run's classifier on known features
// gives the probabilities computed here by hand, in float64, from the
// head's definition (1x1 conv + bias + ReLU, global average pool, dense,
// softmax; or the linear probe: pool, dense, softmax).
func TestClassifierByHand(t *testing.T) {
	// Two images of 2x2 pixels, one channel: the identity backbone makes
	// them the features.
	pixels := [][]float32{{1, -2, 3, 0.5}, {-1, 0, 2, 4}}
	convK, convB := []float64{0.5, -1}, []float64{0.25, 0.5} // F = 2 filters
	for _, c := range []struct {
		name   string
		spec   head.Spec
		params map[string][]float32
		pooled func(px []float32) []float64
		dense  [][]float64 // [pooled][class]
		bias   []float64
	}{
		{
			name:   "linear",
			spec:   head.Spec{Height: 2, Width: 2, Channels: 1, Kind: head.KindLinear, Classes: 3},
			params: map[string][]float32{head.DenseKernel: {0.5, -1, 2}, head.DenseBias: {0.1, 0, -0.3}},
			pooled: func(px []float32) []float64 {
				var s float64
				for _, v := range px {
					s += float64(v)
				}
				return []float64{s / float64(len(px))}
			},
			dense: [][]float64{{0.5, -1, 2}},
			bias:  []float64{0.1, 0, -0.3},
		},
		{
			name: "conv 1x1",
			spec: head.Spec{Height: 2, Width: 2, Channels: 1, Kind: head.KindConv, Filters: 2, Kernel: 1, Classes: 2},
			params: map[string][]float32{head.ConvKernel: {0.5, -1}, head.ConvBias: {0.25, 0.5},
				head.DenseKernel: {1, -0.5, 2, 0.75}, head.DenseBias: {-0.2, 0.4}},
			pooled: func(px []float32) []float64 {
				out := make([]float64, 2)
				for f := range out {
					for _, v := range px {
						out[f] += max(0, float64(v)*convK[f]+convB[f])
					}
					out[f] /= float64(len(px))
				}
				return out
			},
			dense: [][]float64{{1, -0.5}, {2, 0.75}},
			bias:  []float64{-0.2, 0.4},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			tr := &Trained{Classes: make([]string, c.spec.Classes), Backbone: identity{spec(2, 2, 1, tensor.Float32)}, Model: headWith(t, c.spec, c.params)}
			var flat []float32
			for _, px := range pixels {
				flat = append(flat, px...)
			}
			batch, err := tensor.FromFloat32(flat, len(pixels), 2, 2, 1)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tr.Classifier().Predict(context.Background(), batch)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(out.Shape, []int{len(pixels), c.spec.Classes}) {
				t.Fatalf("output shape %v, want [%d %d]", out.Shape, len(pixels), c.spec.Classes)
			}
			for i, px := range pixels {
				p := c.pooled(px)
				z := slices.Clone(c.bias)
				for k := range z {
					for j := range p {
						z[k] += p[j] * c.dense[j][k]
					}
				}
				want := softmax(z)
				for k, w := range want {
					if got := float64(out.F32[i*c.spec.Classes+k]); math.Abs(got-w) > 1e-6 {
						t.Errorf("image %d class %d: %.7f, want %.7f (logits %v)", i, k, got, w, z)
					}
				}
			}
		})
	}
}
