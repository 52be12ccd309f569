package head

import (
	"errors"
	"fmt"
)

// Kind selects the head's architecture.
type Kind string

const (
	// KindConv is Conv2D + bias + ReLU -> GAP -> Dense, the seed's head.
	KindConv Kind = "conv"
	// KindLinear is a linear probe: GAP -> Dense.
	KindLinear Kind = "linear"
)

// ErrSpec reports an invalid head specification.
var ErrSpec = errors.New("head: invalid spec")

// Spec describes a head: the shape of the features it reads and the layers
// on top of them. It is stored in every checkpoint.
type Spec struct {
	Height   int  `json:"height"`
	Width    int  `json:"width"`
	Channels int  `json:"channels"`
	Kind     Kind `json:"kind"`
	// Filters and Kernel size the conv layer (KindConv only).
	Filters int `json:"filters,omitempty"`
	Kernel  int `json:"kernel,omitempty"`
	Classes int `json:"classes"`
	// LabelSmoothing mixes the one-hot target with the uniform
	// distribution: target = (1-s)*onehot + s/Classes, as Keras does.
	LabelSmoothing float32 `json:"label_smoothing,omitempty"`
}

// DefaultSpec is the seed document's head: 3x3 conv with 256 filters.
func DefaultSpec(height, width, channels, classes int) Spec {
	return Spec{Height: height, Width: width, Channels: channels, Kind: KindConv, Filters: 256, Kernel: 3, Classes: classes}
}

// Validate says what is wrong with a spec and how to fix it.
func (s Spec) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSpec, fmt.Sprintf(format, args...))
	}
	switch {
	case s.Height < 1 || s.Width < 1 || s.Channels < 1:
		return bad("feature shape %dx%dx%d: every dimension must be >= 1 (check the tap tensor's shape)", s.Height, s.Width, s.Channels)
	case s.Classes < 2:
		return bad("%d classes: a classifier needs at least 2 (check the data's labels)", s.Classes)
	case s.LabelSmoothing < 0 || s.LabelSmoothing >= 1:
		return bad("label smoothing %g: must be in [0, 1)", s.LabelSmoothing)
	}
	switch s.Kind {
	case KindConv:
		if s.Filters < 1 {
			return bad("conv head with %d filters: needs at least 1 (conv:N, N >= 1)", s.Filters)
		}
		if s.Kernel < 1 || s.Kernel%2 == 0 {
			return bad("conv kernel %d: must be odd and >= 1 so that same padding is symmetric", s.Kernel)
		}
	case KindLinear:
	default:
		return bad("kind %q: use %q or %q", s.Kind, KindConv, KindLinear)
	}
	return nil
}

// FeatureSize is the number of floats in one sample's features.
func (s Spec) FeatureSize() int { return s.Height * s.Width * s.Channels }

// Pooled is the width of the pooled vector that feeds the dense layer.
func (s Spec) Pooled() int {
	if s.Kind == KindLinear {
		return s.Channels
	}
	return s.Filters
}

// Tensor names one parameter tensor inside the flat parameter buffer.
type Tensor struct {
	Name   string
	Shape  []int
	Offset int
	Size   int
}

// Layout places every parameter in one flat buffer. Kernels come first and
// biases last, so weight decay, which applies to kernels only, covers the
// prefix [0, DecayEnd).
type Layout struct {
	Tensors  []Tensor
	DecayEnd int
	Total    int
}

// Parameter names, as Keras would name the layers' variables.
const (
	ConvKernel  = "conv/kernel"
	ConvBias    = "conv/bias"
	DenseKernel = "dense/kernel"
	DenseBias   = "dense/bias"
)

// Layout returns the flat parameter layout of a valid spec. The conv kernel
// is HWIO ([k,k,C,F]) and the dense kernel [in,classes], as in Keras.
func (s Spec) Layout() Layout {
	var l Layout
	add := func(name string, shape ...int) {
		n := 1
		for _, d := range shape {
			n *= d
		}
		l.Tensors = append(l.Tensors, Tensor{Name: name, Shape: shape, Offset: l.Total, Size: n})
		l.Total += n
	}
	if s.Kind == KindConv {
		add(ConvKernel, s.Kernel, s.Kernel, s.Channels, s.Filters)
	}
	add(DenseKernel, s.Pooled(), s.Classes)
	l.DecayEnd = l.Total
	if s.Kind == KindConv {
		add(ConvBias, s.Filters)
	}
	add(DenseBias, s.Classes)
	return l
}

// Find returns the named tensor of the layout.
func (l Layout) Find(name string) (Tensor, bool) {
	for _, t := range l.Tensors {
		if t.Name == name {
			return t, true
		}
	}
	return Tensor{}, false
}

// StepFLOPs counts the floating-point operations of one training step
// (forward and backward, no input gradient) for a batch, counting a
// multiply-add as two. Elementwise work is left out: the GEMMs dominate.
func (s Spec) StepFLOPs(batch int) float64 {
	b, hw := float64(batch), float64(s.Height*s.Width)
	dense := 2 * b * float64(s.Pooled()*s.Classes)
	if s.Kind == KindLinear {
		return 2 * dense
	}
	conv := 2 * b * hw * float64(s.Kernel*s.Kernel*s.Channels*s.Filters)
	// forward conv + weight gradient; forward dense + its two gradients.
	return 2*conv + 3*dense
}
