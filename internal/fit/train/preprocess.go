package train

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/data/images"
)

// StatsImages is how many of the user's images --preprocess auto reads
// the backbone's batch-norm statistics with (fewer when the data has
// fewer): enough for per-channel means and variances over every pixel,
// one pass of the first layers per mode.
const StatsImages = 64

// statsSize is the image size the statistics are read at when the
// backbone's input has no fixed size.
const statsSize = 224

// Preprocessing is what --preprocess resolves to for the backbone m: the
// graph's own input arithmetic when it has some, else (for auto, with
// data) its first batch norm's moving statistics against a seeded sample
// of ds (nil: no data to read them with). An error reading the statistics
// comes with the choice made without them.
func Preprocessing(ctx context.Context, m *savedmodel.Model, signature, requested string, ds *dataset.Dataset, workers int) (inspect.Choice, inspect.Normalization, *api.PreprocessStats, error) {
	g, err := m.FlattenSignature(signature)
	if err != nil {
		return inspect.Choice{}, inspect.Normalization{}, nil, err
	}
	var pixels *tensor.Tensor
	if wantsStats(requested, inspect.DetectNormalization(g)) && ds != nil && ds.Len() > 0 {
		pixels, err = samplePixels(ctx, m, signature, ds, workers)
	}
	ch, n, st, serr := ChooseFor(ctx, g, requested, pixels)
	if err == nil {
		err = serr
	}
	return ch, n, st, err
}

// wantsStats reports whether the statistics decide: auto, and a graph
// that does no input arithmetic.
func wantsStats(requested string, n inspect.Normalization) bool {
	return (requested == "" || requested == inspect.Auto) && !n.Found()
}

// ChooseFor resolves requested for the flat graph g, with pixels (raw,
// [N H W C], nil: none) to read its batch-norm statistics with when they
// decide.
func ChooseFor(ctx context.Context, g *savedmodel.Graph, requested string, pixels *tensor.Tensor) (inspect.Choice, inspect.Normalization, *api.PreprocessStats, error) {
	n := inspect.DetectNormalization(g)
	var st *api.PreprocessStats
	var err error
	if wantsStats(requested, n) && pixels != nil {
		st, err = StatsOf(ctx, g, pixels)
	}
	return inspect.ChoosePreprocess(requested, n, st), n, st, err
}

// StatsOf compares raw pixels [N H W C] (0..255), preprocessed in every
// mode, with the moving statistics of g's first batch norm; without one,
// the stats have no layer and no distances.
func StatsOf(ctx context.Context, g *savedmodel.Graph, pixels *tensor.Tensor) (*api.PreprocessStats, error) {
	bn, ok := inspect.FirstBatchNorm(g)
	if !ok {
		return &api.PreprocessStats{Images: pixels.Shape[0]}, nil
	}
	c := pixels.Shape[len(pixels.Shape)-1]
	return inspect.CompareStatistics(ctx, g, bn, images.Modes, func(mode string) (*tensor.Tensor, error) {
		x := slices.Clone(pixels.F32)
		images.Preprocess(x, c, mode)
		return tensor.FromFloat32(x, pixels.Shape...)
	})
}

// samplePixels decodes up to StatsImages samples of ds, picked with a
// fixed seed (the same images every time), as raw pixels at the size the
// signature's input takes.
func samplePixels(ctx context.Context, m *savedmodel.Model, signature string, ds *dataset.Dataset, workers int) (*tensor.Tensor, error) {
	sig, err := m.Signature(signature)
	if err != nil {
		return nil, err
	}
	if len(sig.Inputs) != 1 || len(sig.Inputs[0].Shape) != 4 {
		return nil, fmt.Errorf("train: the signature's input is not one NHWC image tensor")
	}
	s := sig.Inputs[0].Shape
	h, w, c := int(s[1]), int(s[2]), int(s[3])
	if h < 1 || w < 1 {
		h, w = statsSize, statsSize
	}
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("train: the signature's input has %d channels; graft feeds 1 or 3", c)
	}
	idx := rand.New(rand.NewPCG(StatsImages, 1)).Perm(ds.Len())
	idx = idx[:min(len(idx), StatsImages)]
	slices.Sort(idx)
	dec, err := dataset.Decode(ctx, ds.Pick(idx), h, w, c, images.Raw, dataset.Skip, workers)
	if err != nil {
		return nil, err
	}
	return tensor.FromFloat32(dec.Images, dec.Len(), h, w, c)
}

// resolvePreprocess replaces "auto" with the mode the backbone calls for
// (its graph's input arithmetic, else its batch-norm statistics against
// the training images) and records why; an explicit mode stays, with a
// warning when the graph's own normalisation contradicts it. m is the
// backbone loadBackbone read (nil: it could not).
func resolvePreprocess(ctx context.Context, c *Config, m *savedmodel.Model, ds *dataset.Dataset, log *zap.Logger) {
	var ch inspect.Choice
	var st *api.PreprocessStats
	err := errors.New("the backbone did not load")
	if m != nil {
		ch, _, st, err = Preprocessing(ctx, m, c.Signature, c.Preprocess, ds, c.Workers)
	}
	switch {
	case err != nil && ch.Mode != "":
		// Statistics that cannot be read leave the choice without them.
		log.Warn("preprocessing: the backbone's batch-norm statistics not read", zap.Error(err))
	case err != nil:
		// The backbone's own opening reports a model that cannot load.
		log.Debug("preprocessing not read from the backbone", zap.Error(err))
		ch = inspect.ChoosePreprocess(c.Preprocess, inspect.Normalization{}, nil)
	}
	c.Preprocess, c.PreprocessReason, c.PreprocessStats = ch.Mode, ch.Reason, st
	ch.Log(log)
}
