package head

import (
	"fmt"
	"math"
)

// UploadFeatures checks host features (whole samples of spec's shape, all
// finite) and copies them into a new buffer on the device behind ops,
// where they stay for every epoch.
func UploadFeatures(ops Ops, spec Spec, host []float32) (Buffer, error) {
	if err := checkFeatures(spec, host); err != nil {
		return nil, err
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

// PlaceFeatures is UploadFeatures without the copy where ops keeps its
// buffers in host memory (the CPU head): the buffer is host itself, so a
// training set is held once, not twice; the caller must not change host
// while the buffer is in use, and freeing the buffer frees nothing.
func PlaceFeatures(ops Ops, spec Spec, host []float32) (Buffer, error) {
	if _, ok := ops.(*CPUOps); !ok {
		return UploadFeatures(ops, spec, host)
	}
	if err := checkFeatures(spec, host); err != nil {
		return nil, err
	}
	return cpuBuffer(host), nil
}

// checkFeatures says why host cannot be the features of a head of spec.
func checkFeatures(spec Spec, host []float32) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	size := spec.FeatureSize()
	if len(host) == 0 || len(host)%size != 0 {
		return fmt.Errorf("%w: %d feature values are not a whole number of %dx%dx%d samples: the tap's shape and the head's input shape differ", ErrShape, len(host), spec.Height, spec.Width, spec.Channels)
	}
	for i, v := range host {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return fmt.Errorf("%w: feature %d of sample %d is %v: the backbone produced it from that sample's input; check the image and the preprocessing", ErrNonFinite, i%size, i/size, v)
		}
	}
	return nil
}
