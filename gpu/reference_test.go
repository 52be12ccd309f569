package gpu

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/graft-ml/graft/head"
)

// relErr is max|got-want| / max(max|want|, 1e-6): the error relative to
// the tensor's scale, so that entries near zero do not dominate.
func relErr[T float32 | float64](got []float32, want []T) float64 {
	var diff, scale float64
	for i := range want {
		diff = max(diff, math.Abs(float64(got[i])-float64(want[i])))
		scale = max(scale, math.Abs(float64(want[i])))
	}
	return diff / max(scale, 1e-6)
}

// refGradients is a float64 implementation of the head's gradients (mean
// loss over the batch), direct loops, sharing no code with head or the
// kernels. The conv's ReLU mask (rows (b, y, x), columns filters) is
// given, or taken from its own pre-activations when nil: the GPU tests
// pass the device's own mask, because a pre-activation within rounding of
// zero can fall on either side in float32 summation orders, and one
// flipped unit moves the conv kernel's gradient by a few percent
// (issue 15, defect 3).
func refGradients(spec head.Spec, feats []float32, idx, labels []int32, params []float32, mask []bool) []float64 {
	lay := spec.Layout()
	get := func(name string) (int, []float32) {
		t, _ := lay.Find(name)
		return t.Offset, params[t.Offset : t.Offset+t.Size]
	}
	grad := make([]float64, lay.Total)
	h, w, ch, k, nf, n, in := spec.Height, spec.Width, spec.Channels, spec.Kernel, spec.Filters, spec.Classes, spec.Pooled()
	hw, B := h*w, len(idx)
	dkOff, dk := get(head.DenseKernel)
	dbOff, db := get(head.DenseBias)
	var ckOff, cbOff int
	var ck, cb []float32
	if spec.Kind == head.KindConv {
		ckOff, ck = get(head.ConvKernel)
		cbOff, cb = get(head.ConvBias)
	}
	for bi, s := range idx {
		x := feats[int(s)*spec.FeatureSize() : (int(s)+1)*spec.FeatureSize()]
		pooled := make([]float64, in)
		on := make([]bool, hw*nf) // the ReLU mask of this sample
		if spec.Kind == head.KindLinear {
			for p := range hw {
				for c := range ch {
					pooled[c] += float64(x[p*ch+c]) / float64(hw)
				}
			}
		} else {
			for p := range hw {
				y, xx := p/w, p%w
				for f := range nf {
					z := float64(cb[f])
					for dy := range k {
						for dx := range k {
							sy, sx := y+dy-k/2, xx+dx-k/2
							if sy < 0 || sy >= h || sx < 0 || sx >= w {
								continue
							}
							for c := range ch {
								z += float64(x[(sy*w+sx)*ch+c]) * float64(ck[((dy*k+dx)*ch+c)*nf+f])
							}
						}
					}
					on[p*nf+f] = z > 0
					if mask != nil {
						on[p*nf+f] = mask[(bi*hw+p)*nf+f]
					}
					if on[p*nf+f] {
						pooled[f] += z / float64(hw)
					}
				}
			}
		}
		logits := make([]float64, n)
		maxZ := math.Inf(-1)
		for j := range n {
			logits[j] = float64(db[j])
			for i := range in {
				logits[j] += pooled[i] * float64(dk[i*n+j])
			}
			maxZ = max(maxZ, logits[j])
		}
		var sum float64
		for _, z := range logits {
			sum += math.Exp(z - maxZ)
		}
		dlogits := make([]float64, n)
		sm := float64(spec.LabelSmoothing)
		for j, z := range logits {
			t := sm / float64(n)
			if j == int(labels[bi]) {
				t += 1 - sm
			}
			dlogits[j] = (math.Exp(z-maxZ)/sum - t) / float64(B)
		}
		dpooled := make([]float64, in)
		for i := range in {
			for j := range n {
				grad[dkOff+i*n+j] += pooled[i] * dlogits[j]
				dpooled[i] += dlogits[j] * float64(dk[i*n+j])
			}
		}
		for j := range n {
			grad[dbOff+j] += dlogits[j]
		}
		if spec.Kind == head.KindLinear {
			continue
		}
		for p := range hw {
			y, xx := p/w, p%w
			for f := range nf {
				if !on[p*nf+f] {
					continue
				}
				dz := dpooled[f] / float64(hw)
				grad[cbOff+f] += dz
				for dy := range k {
					for dx := range k {
						sy, sx := y+dy-k/2, xx+dx-k/2
						if sy < 0 || sy >= h || sx < 0 || sx >= w {
							continue
						}
						for c := range ch {
							grad[ckOff+((dy*k+dx)*ch+c)*nf+f] += float64(x[(sy*w+sx)*ch+c]) * dz
						}
					}
				}
			}
		}
	}
	return grad
}

// The float64 reference agrees with head's CPU implementation, itself
// tested against finite differences: the oracle the GPU tests use is
// checked on every machine.
func TestReferenceGradientsMatchCPU(t *testing.T) {
	smooth := head.Spec{Height: 4, Width: 6, Channels: 5, Kind: head.KindConv, Filters: 7, Kernel: 3, Classes: 4, LabelSmoothing: 0.1}
	for i, c := range []struct {
		spec           head.Spec
		batch, samples int
	}{
		{head.Spec{Height: 5, Width: 3, Channels: 7, Kind: head.KindConv, Filters: 9, Kernel: 3, Classes: 3}, 6, 11},
		{head.Spec{Height: 3, Width: 2, Channels: 6, Kind: head.KindConv, Filters: 12, Kernel: 5, Classes: 3}, 5, 8},
		{smooth, 17, 20},
		{head.Spec{Height: 7, Width: 7, Channels: 37, Kind: head.KindLinear, Classes: 5}, 13, 20},
	} {
		rng := rand.New(rand.NewPCG(uint64(i), 3))
		feats := make([]float32, c.samples*c.spec.FeatureSize())
		for j := range feats {
			feats[j] = float32(rng.NormFloat64())
		}
		params := make([]float32, c.spec.Layout().Total)
		for j := range params {
			params[j] = float32(0.1 * rng.NormFloat64())
		}
		var idx, labels []int32
		for range c.batch {
			idx = append(idx, int32(rng.IntN(c.samples)))
			labels = append(labels, int32(rng.IntN(c.spec.Classes)))
		}
		cpu := head.NewCPUOps()
		f, _ := head.UploadFeatures(cpu, c.spec, feats)
		p, _ := cpu.Alloc(len(params))
		g, _ := cpu.Alloc(len(params))
		if err := cpu.Upload(p, 0, params); err != nil {
			t.Fatal(err)
		}
		if _, err := cpu.Gradients(c.spec, p, f, idx, labels, g); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, len(params))
		if err := cpu.Download(got, g, 0); err != nil {
			t.Fatal(err)
		}
		want := refGradients(c.spec, feats, idx, labels, params, nil)
		for _, tn := range c.spec.Layout().Tensors {
			if e := relErr(got[tn.Offset:tn.Offset+tn.Size], want[tn.Offset:tn.Offset+tn.Size]); e > 1e-4 {
				t.Errorf("%+v: %s: CPU vs float64 reference, relative error %.2g", c.spec, tn.Name, e)
			}
		}
	}
}
