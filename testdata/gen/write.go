package main

import (
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// writeBackbone writes the pretrained CNN as a TF2 Keras SavedModel with
// Keras's layer names, so taps like "conv2d_2" or "max_pooling2d_1" work.
func writeBackbone(dir string, w *cnnWeights, h, wd int) error {
	t := func(data []float32, shape ...int) *tensor.Tensor {
		x, err := tensor.FromFloat32(data, shape...)
		if err != nil {
			panic(err) // shapes are ours
		}
		return x
	}
	conv := func(i int) (*tensor.Tensor, *tensor.Tensor) {
		s := w.convShape[i]
		return t(w.convK[i], s[:]...), t(w.convB[i], s[3])
	}
	k0, b0 := conv(0)
	k1, b1 := conv(1)
	k2, b2 := conv(2)
	spec, err := savedmodel.NewSequential("sequential", "conv2d_input", -1, int64(h), int64(wd), 1).
		Conv2D("conv2d", k0, b0, 1, "SAME", "relu").
		MaxPool2D("max_pooling2d", 2, 2, "VALID").
		Conv2D("conv2d_1", k1, b1, 1, "SAME", "relu").
		MaxPool2D("max_pooling2d_1", 2, 2, "VALID").
		Conv2D("conv2d_2", k2, b2, 1, "SAME", "relu").
		GlobalAveragePooling2D("global_average_pooling2d").
		Dense("dense", t(w.denseK, w.denseShape[:]...), t(w.denseB, w.denseShape[1]), "softmax").
		Spec()
	if err != nil {
		return err
	}
	return savedmodel.Write(dir, spec)
}
