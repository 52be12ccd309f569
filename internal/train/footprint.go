package train

import (
	"fmt"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/dataset"
)

// Footprint is the device memory a job needs, computed from the job
// rather than guessed: its features (resident when they fit), the head's
// parameters, gradients and optimizer slots, and one batch's scratch.
type Footprint struct {
	Samples      int   `json:"samples"`
	FeatureBytes int64 `json:"feature_bytes"`
	ParamBytes   int64 `json:"param_bytes"` // parameters, gradients, optimizer slots
	ScratchBytes int64 `json:"scratch_bytes"`
}

// Resident is the total with every feature on the device.
func (f Footprint) Resident() int64 { return f.FeatureBytes + f.ParamBytes + f.ScratchBytes }

// Streaming is the total when features are copied in batch by batch.
func (f Footprint) Streaming() int64 { return f.ParamBytes + f.ScratchBytes }

// Need is what a device with budget bytes must reserve for the job:
// everything resident when that fits, else the streaming footprint; ok
// is false when not even that fits.
func (f Footprint) Need(budget int64) (int64, bool) {
	if f.Resident() <= budget {
		return f.Resident(), true
	}
	return f.Streaming(), f.Streaming() <= budget
}

// EstimateFootprint opens the job's backbone (for the tap's shape) and data
// (for the sample count, without decoding) and sizes the job. cfg must be
// defaulted.
func EstimateFootprint(cfg Config) (Footprint, error) {
	bb, err := cfg.backbone()
	if err != nil {
		return Footprint{}, err
	}
	defer bb.Close()
	var f Footprint
	var perSample int64 // bytes of one sample's features
	for _, path := range []string{cfg.Data, cfg.Val} {
		if path == "" {
			continue
		}
		ds, err := dataset.Open(path, dataset.Options{Roots: cfg.AllowRoots})
		if err != nil {
			return Footprint{}, err
		}
		f.Samples += ds.Len()
		if path == cfg.Data {
			n := len(ds.Classes)
			tap := bb.Tap().Shape
			if len(tap) < 2 {
				return Footprint{}, fmt.Errorf("train: tap %q has shape %v", cfg.Tap, tap)
			}
			spec, err := cfg.spec(tap[1:], n)
			if err != nil {
				return Footprint{}, err
			}
			opt, err := cfg.optimizer()
			if err != nil {
				return Footprint{}, err
			}
			f.ParamBytes = 4 * int64(spec.Layout().Total) * int64(2+opt.Slots())
			perSample = 4 * int64(spec.FeatureSize())
			// A step's scratch, plus one batch of streamed features.
			f.ScratchBytes = 4*scratchFloats(spec, cfg.BatchSize) + int64(cfg.BatchSize)*perSample
		}
	}
	f.FeatureBytes = int64(f.Samples) * perSample
	return f, nil
}

// scratchFloats is a training step's temporary memory: the conv's
// activations and their gradient, pooled vectors and logits, generously.
func scratchFloats(s head.Spec, batch int) int64 {
	b := int64(batch)
	act := b * int64(s.Height*s.Width*s.Pooled())
	return 2*act + 4*b*int64(s.Pooled()+s.Classes)
}
