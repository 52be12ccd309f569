package native

import (
	"context"
	"errors"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/idx"
)

func randomTensor(rng *rand.Rand, shape ...int) *tensor.Tensor {
	t := tensor.New(tensor.Float32, shape...)
	for i := range t.F32 {
		t.F32[i] = float32(rng.NormFloat64() * 0.5)
	}
	return t
}

// fixtureNet is a small CNN with random weights: conv 3x3 SAME stride 1
// relu -> maxpool 2 VALID -> conv 3x3 VALID stride 2 relu -> GAP ->
// dense softmax.
type fixtureNet struct {
	k1, b1, k2, b2, dk, db *tensor.Tensor
}

func newFixtureNet(seed uint64) fixtureNet {
	rng := rand.New(rand.NewPCG(seed, 5))
	return fixtureNet{
		k1: randomTensor(rng, 3, 3, 2, 4), b1: randomTensor(rng, 4),
		k2: randomTensor(rng, 3, 3, 4, 5), b2: randomTensor(rng, 5),
		dk: randomTensor(rng, 5, 3), db: randomTensor(rng, 3),
	}
}

func (n fixtureNet) write(t *testing.T, mutate func(*savedmodel.WriteSpec)) string {
	t.Helper()
	spec, err := savedmodel.NewSequential("sequential", "conv2d_input", -1, 9, 11, 2).
		Conv2D("conv2d", n.k1, n.b1, 1, "SAME", "relu").
		MaxPool2D("max_pooling2d", 2, 2, "VALID").
		Conv2D("conv2d_1", n.k2, n.b2, 2, "VALID", "relu").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", n.dk, n.db, "softmax").
		Spec()
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(spec)
	}
	dir := filepath.Join(t.TempDir(), "model")
	if err := savedmodel.Write(dir, spec); err != nil {
		t.Fatal(err)
	}
	return dir
}

// direct computes the same network with plain loops: the oracle.
func (n fixtureNet) direct(x []float32, batch, h, w int) [][]float64 {
	conv := func(in []float64, h, w, c int, k, b *tensor.Tensor, stride int, same bool) ([]float64, int, int) {
		kh, kw, o := k.Shape[0], k.Shape[1], k.Shape[3]
		var oh, ow, pt, pl int
		if same {
			oh, ow = (h+stride-1)/stride, (w+stride-1)/stride
			pt = max((oh-1)*stride+kh-h, 0) / 2
			pl = max((ow-1)*stride+kw-w, 0) / 2
		} else {
			oh, ow = (h-kh)/stride+1, (w-kw)/stride+1
		}
		out := make([]float64, oh*ow*o)
		for y := 0; y < oh; y++ {
			for xx := 0; xx < ow; xx++ {
				for f := 0; f < o; f++ {
					s := float64(b.F32[f])
					for dy := 0; dy < kh; dy++ {
						for dx := 0; dx < kw; dx++ {
							sy, sx := y*stride+dy-pt, xx*stride+dx-pl
							if sy < 0 || sy >= h || sx < 0 || sx >= w {
								continue
							}
							for ch := 0; ch < c; ch++ {
								s += in[(sy*w+sx)*c+ch] * float64(k.F32[((dy*kw+dx)*c+ch)*o+f])
							}
						}
					}
					out[(y*ow+xx)*o+f] = math.Max(s, 0)
				}
			}
		}
		return out, oh, ow
	}
	var res [][]float64
	for b := 0; b < batch; b++ {
		in := make([]float64, h*w*2)
		for i := range in {
			in[i] = float64(x[b*h*w*2+i])
		}
		a, ah, aw := conv(in, h, w, 2, n.k1, n.b1, 1, true)
		ph, pw := ah/2, aw/2
		p := make([]float64, ph*pw*4)
		for y := 0; y < ph; y++ {
			for xx := 0; xx < pw; xx++ {
				for c := 0; c < 4; c++ {
					m := math.Inf(-1)
					for dy := 0; dy < 2; dy++ {
						for dx := 0; dx < 2; dx++ {
							m = math.Max(m, a[((2*y+dy)*aw+2*xx+dx)*4+c])
						}
					}
					p[(y*pw+xx)*4+c] = m
				}
			}
		}
		c2, oh, ow := conv(p, ph, pw, 4, n.k2, n.b2, 2, false)
		gap := make([]float64, 5)
		for i, v := range c2 {
			gap[i%5] += v / float64(oh*ow)
		}
		logits := make([]float64, 3)
		var sum float64
		for j := range logits {
			logits[j] = float64(n.db.F32[j])
			for i := range gap {
				logits[j] += gap[i] * float64(n.dk.F32[i*3+j])
			}
			logits[j] = math.Exp(logits[j])
			sum += logits[j]
		}
		for j := range logits {
			logits[j] /= sum
		}
		res = append(res, logits)
	}
	return res
}

// TestWrittenFixtureRoundTrip writes a CNN with graft's writer, reads it
// back through the native backbone and compares with direct loops.
func TestWrittenFixtureRoundTrip(t *testing.T) {
	t.Parallel()
	net := newFixtureNet(1)
	bb, err := Open(net.write(t, nil), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := bb.Input().Shape; got[1] != 9 || got[2] != 11 || got[3] != 2 {
		t.Errorf("input shape %v", got)
	}
	if got := bb.Tap().Shape; len(got) != 2 || got[1] != 3 {
		t.Errorf("output shape %v", got)
	}
	const batch = 3
	x := randomTensor(rand.New(rand.NewPCG(2, 2)), batch, 9, 11, 2)
	out, err := bb.Features(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	want := net.direct(x.F32, batch, 9, 11)
	for b := range want {
		for j, w := range want[b] {
			if d := math.Abs(float64(out.F32[b*3+j]) - w); d > 1e-5 {
				t.Errorf("sample %d class %d: %v, direct %v", b, j, out.F32[b*3+j], w)
			}
		}
	}

	// The tap by Keras layer name stops at that layer's output.
	tapped, err := Open(net.write(t, nil), Options{Tap: "max_pooling2d"})
	if err != nil {
		t.Fatal(err)
	}
	if got := tapped.Tap().Shape; len(got) != 4 || got[1] != 4 || got[2] != 5 || got[3] != 4 {
		t.Errorf("tap max_pooling2d shape %v, want [-1 4 5 4]", got)
	}
}

func TestOpenErrors(t *testing.T) {
	net := newFixtureNet(3)
	dir := net.write(t, nil)
	_, err := Open(dir, Options{Tap: "conv2d_7"})
	if !errors.Is(err, savedmodel.ErrUnknownTensor) || !strings.Contains(err.Error(), "conv2d") {
		t.Errorf("unknown tap: %v", err)
	}
	if _, err := Open(dir, Options{Signature: "predict"}); !errors.Is(err, savedmodel.ErrUnknownSignature) {
		t.Errorf("unknown signature: %v", err)
	}
	if _, err := Open(dir, Options{Output: "logits"}); err == nil || !strings.Contains(err.Error(), "dense") {
		t.Errorf("unknown output: %v", err)
	}

	softsign := net.write(t, func(s *savedmodel.WriteSpec) {
		for _, n := range s.Body {
			if n.Op == "Relu" {
				n.Op = "Softsign"
				return
			}
		}
	})
	_, err = Open(softsign, Options{})
	if !errors.Is(err, ErrUnsupportedOp) {
		t.Fatalf("unknown op: %v", err)
	}
	for _, want := range []string{"Softsign", "conv2d/Relu", softsign} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("unknown-op error %q does not name %q", err, want)
		}
	}

	bb, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = bb.Features(context.Background(), tensor.New(tensor.Float32, 1, 9, 10, 2))
	if !errors.Is(err, ErrFeed) {
		t.Errorf("wrong image size: %v", err)
	}
	_, err = bb.Features(context.Background(), tensor.New(tensor.Float32, 1, 9, 11, 3))
	if !errors.Is(err, ErrFeed) {
		t.Errorf("wrong channels: %v", err)
	}
}

// TestMNISTFixture runs graft's pretrained backbone (testdata/models,
// written by testdata/gen) on MNIST test images it never saw: the labels
// are the oracle.
func TestMNISTFixture(t *testing.T) {
	t.Parallel()
	set, err := idx.Load(filepath.Join(testmodules.MNIST(t), "t10k-images-idx3-ubyte.gz"), filepath.Join(testmodules.MNIST(t), "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	bb, err := Open("../../testdata/models/mnist_cnn", Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	x := tensor.New(tensor.Float32, n, 28, 28, 1)
	for i := 0; i < n; i++ {
		for p, v := range set.Image(i) {
			x.F32[i*784+p] = float32(v) / 255
		}
	}
	out, err := bb.Features(context.Background(), x)
	if err != nil {
		t.Fatal(err)
	}
	correct := 0
	for i := 0; i < n; i++ {
		row := out.F32[i*10 : (i+1)*10]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		if best == int(set.Labels[i]) {
			correct++
		}
	}
	if acc := float64(correct) / n; acc < 0.9 {
		t.Errorf("MNIST test accuracy %.3f, want >= 0.9", acc)
	} else {
		t.Logf("MNIST test accuracy of the fixture backbone: %.3f", acc)
	}
}

// TestPrepareUsesTheLoadedModel: with Options.Model, Prepare reads no
// file (its path names nothing) and cuts the model given, as reading the
// path would.
func TestPrepareUsesTheLoadedModel(t *testing.T) {
	const dir = "../../testdata/models/fashion_cnn"
	m, err := savedmodel.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	want, err := Prepare(dir, Options{Tap: "conv2d_2"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := Prepare(filepath.Join(t.TempDir(), "nothing-here"), Options{Tap: "conv2d_2", Model: m})
	if err != nil {
		t.Fatalf("Prepare with the model loaded read the path: %v", err)
	}
	if got.Model != m {
		t.Error("Prepare loaded a model of its own")
	}
	ws, _ := want.TapShape()
	gs, _ := got.TapShape()
	if !slices.Equal(ws, gs) || len(ws) != 4 {
		t.Errorf("tap shape %v with the model given, %v from the path", gs, ws)
	}
}
