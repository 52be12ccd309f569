//go:build !tensorflow

package tf

import (
	"context"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tensor"
)

// Available reports whether this binary has the TensorFlow engine.
const Available = false

// Backbone would run a SavedModel through libtensorflow; this binary was
// built without it (no -tags tensorflow), so none can be opened.
type Backbone struct{}

var _ backbone.Backbone = (*Backbone)(nil)

// Open returns ErrNoTensorFlow: build with -tags tensorflow.
func Open(dir string, o Options) (*Backbone, error) { return nil, ErrNoTensorFlow }

// Input implements backbone.Backbone.
func (b *Backbone) Input() backbone.TensorSpec { return backbone.TensorSpec{} }

// Tap implements backbone.Backbone.
func (b *Backbone) Tap() backbone.TensorSpec { return backbone.TensorSpec{} }

// Model is the loaded SavedModel.
func (b *Backbone) Model() *savedmodel.Model { return nil }

// Graph is the flat graph the backbone imported into TensorFlow.
func (b *Backbone) Graph() *savedmodel.Graph { return nil }

// Features implements backbone.Backbone; it returns ErrNoTensorFlow.
func (b *Backbone) Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	return nil, ErrNoTensorFlow
}

// Close implements backbone.Backbone.
func (b *Backbone) Close() error { return nil }

// LibDir is where make build-tf found libtensorflow; unused here.
var LibDir string

// Load returns ErrNoTensorFlow: this binary cannot load libtensorflow.
func Load() (string, error) { return "", ErrNoTensorFlow }

// Version returns ErrNoTensorFlow.
func Version() (string, error) { return "", ErrNoTensorFlow }

// RunSignature returns ErrNoTensorFlow: build with -tags tensorflow.
func RunSignature(dir string, o Options, batch *tensor.Tensor) (*tensor.Tensor, error) {
	return nil, ErrNoTensorFlow
}

// Eager would run a SavedModel through TensorFlow's eager C API; this
// binary was built without it.
type Eager struct{}

var _ DeviceFeaturer = (*Eager)(nil)

// OpenEager returns ErrNoTensorFlow: build with -tags tensorflow.
func OpenEager(dir string, o Options) (*Eager, error) { return nil, ErrNoTensorFlow }

// Input implements backbone.Backbone.
func (e *Eager) Input() backbone.TensorSpec { return backbone.TensorSpec{} }

// Tap implements backbone.Backbone.
func (e *Eager) Tap() backbone.TensorSpec { return backbone.TensorSpec{} }

// Model is the loaded SavedModel.
func (e *Eager) Model() *savedmodel.Model { return nil }

// Graph is the flat graph the function was made of.
func (e *Eager) Graph() *savedmodel.Graph { return nil }

// DeviceFeatures implements DeviceFeaturer; it returns ErrNoTensorFlow.
func (e *Eager) DeviceFeatures(ctx context.Context, batch *tensor.Tensor) (*DeviceTensor, error) {
	return nil, ErrNoTensorFlow
}

// Features implements backbone.Backbone; it returns ErrNoTensorFlow.
func (e *Eager) Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	return nil, ErrNoTensorFlow
}

// Close implements backbone.Backbone.
func (e *Eager) Close() error { return nil }
