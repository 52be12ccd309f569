package head

import (
	"fmt"
	"math"
)

// UploadFeatures checks host features (whole samples of spec's shape, all
// finite) and copies them into a new buffer on the device behind ops,
// where they stay for every epoch.
func UploadFeatures(ops Ops, spec Spec, host []float32) (Buffer, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	size := spec.FeatureSize()
	if len(host) == 0 || len(host)%size != 0 {
		return nil, fmt.Errorf("%w: %d feature values are not a whole number of %dx%dx%d samples: the tap's shape and the head's input shape differ", ErrShape, len(host), spec.Height, spec.Width, spec.Channels)
	}
	for i, v := range host {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return nil, fmt.Errorf("%w: feature %d of sample %d is %v: the backbone produced it from that sample's input; check the image and the preprocessing", ErrNonFinite, i%size, i/size, v)
		}
	}
	buf, err := ops.Alloc(len(host))
	if err != nil {
		return nil, fmt.Errorf("head: features: %w", err)
	}
	if err := ops.Upload(buf, 0, host); err != nil {
		ops.Free(buf)
		return nil, err
	}
	return buf, nil
}
