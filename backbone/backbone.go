package backbone

import (
	"context"

	"github.com/graft-ml/graft/backbone/tensor"
)

// TensorSpec describes a tensor at the backbone's boundary. Shape uses -1
// for dimensions unknown until run time (the batch).
type TensorSpec struct {
	Name  string       `json:"name"`
	DType tensor.DType `json:"dtype"`
	Shape []int        `json:"shape"`
}

// Backbone is a frozen, pretrained network cut at a tap tensor.
type Backbone interface {
	// Input is the image input the backbone expects, NHWC.
	Input() TensorSpec
	// Tap is the intermediate tensor the head reads, NHWC.
	Tap() TensorSpec
	// Features runs a batch of inputs (shape [N, H, W, C] of Input's dtype)
	// through the backbone and returns the tap tensor for each of them.
	Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error)
	// Close releases the engine's resources.
	Close() error
}
