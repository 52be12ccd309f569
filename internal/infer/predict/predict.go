package predict

import (
	"context"
	"fmt"
	"sort"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/images"
)

// Score is one ranked output value.
type Score struct {
	Index int     `json:"index"`
	Label string  `json:"label,omitempty"`
	Score float32 `json:"score"`
}

// TopK returns the k largest values of v, largest first (ties by index).
func TopK(v []float32, k int) []Score {
	idx := make([]int, len(v))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return v[idx[a]] > v[idx[b]] })
	k = min(k, len(v))
	out := make([]Score, k)
	for i := range out {
		out[i] = Score{Index: idx[i], Score: v[idx[i]]}
	}
	return out
}

// Model maps a batch of images to one output row per image: a backbone
// cut at a tensor (FromBackbone), or a trained run's classifier (its
// backbone and head, class probabilities out).
type Model interface {
	Input() backbone.TensorSpec
	Predict(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error)
}

// FromBackbone is bb as a Model: the values of its tap are the outputs.
func FromBackbone(bb backbone.Backbone) Model { return backboneModel{bb} }

type backboneModel struct{ bb backbone.Backbone }

func (m backboneModel) Input() backbone.TensorSpec { return m.bb.Input() }
func (m backboneModel) Predict(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	return m.bb.Features(ctx, batch)
}

// InputSize returns the height, width and channels of a model's image
// input, with a message saying what to do when the model leaves them open.
func InputSize(bb Model) (h, w, c int, err error) {
	s := bb.Input().Shape
	h, w, c = s[1], s[2], s[3]
	if h < 1 || w < 1 {
		return 0, 0, 0, fmt.Errorf("predict: input %q has shape %v: the model does not fix the image size", bb.Input().Name, s)
	}
	if c != 1 && c != 3 {
		return 0, 0, 0, fmt.Errorf("predict: input %q has %d channels; graft feeds gray (1) or RGB (3) images", bb.Input().Name, c)
	}
	if bb.Input().DType != tensor.Float32 {
		return 0, 0, 0, fmt.Errorf("predict: input %q is %s; graft feeds float32 images", bb.Input().Name, bb.Input().DType)
	}
	return h, w, c, nil
}

// Result is the output of one image, or why there is none.
type Result struct {
	Input  string
	Output []float32
	Err    error
}

// Images decodes each file for the backbone's input with preprocessing
// mode, runs them in batches and returns one result per file, in order. An
// unreadable image fails only its own result.
// Images with more than maxPixels pixels (<= 0: images.DefaultMaxPixels)
// are refused from their header.
func Images(ctx context.Context, bb Model, paths []string, mode string, batch int, maxPixels int64) ([]Result, error) {
	h, w, c, err := InputSize(bb)
	if err != nil {
		return nil, err
	}
	res := make([]Result, len(paths))
	for lo := 0; lo < len(paths); lo += batch {
		var ok []int
		var data []float32
		for i := lo; i < min(lo+batch, len(paths)); i++ {
			res[i].Input = paths[i]
			x, err := images.Load(paths[i], h, w, c, mode, maxPixels)
			if err != nil {
				res[i].Err = err
				continue
			}
			ok = append(ok, i)
			data = append(data, x...)
		}
		if len(ok) == 0 {
			continue
		}
		in, err := tensor.FromFloat32(data, len(ok), h, w, c)
		if err != nil {
			return nil, err
		}
		out, err := bb.Predict(ctx, in)
		if err != nil {
			return nil, err
		}
		per := out.Len() / len(ok)
		for j, i := range ok {
			res[i].Output = append([]float32(nil), out.F32[j*per:(j+1)*per]...)
		}
	}
	return res, nil
}
