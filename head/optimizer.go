package head

import (
	"fmt"
	"math"
)

// Optimizer names and their Keras defaults.
const (
	Adam  = "adam"
	AdamW = "adamw"
	SGD   = "sgd"
)

// Optimizer holds the hyper-parameters of one update rule. The learning
// rate may change between steps (schedules); everything else is fixed for a
// run and stored in the checkpoint.
type Optimizer struct {
	Name    string  `json:"name"`
	LR      float32 `json:"lr"`
	Beta1   float32 `json:"beta1,omitempty"`
	Beta2   float32 `json:"beta2,omitempty"`
	Epsilon float32 `json:"epsilon,omitempty"`
	// WeightDecay is decoupled (AdamW-style: p -= lr*wd*p before the
	// update) and applies to kernels only, never to biases.
	WeightDecay float32 `json:"weight_decay,omitempty"`
	Momentum    float32 `json:"momentum,omitempty"`
	Nesterov    bool    `json:"nesterov,omitempty"`
}

// NewOptimizer returns the named optimizer with Keras's defaults: Adam and
// AdamW lr 1e-3, betas 0.9/0.999, epsilon 1e-7, AdamW weight decay 0.004;
// SGD lr 0.01 with momentum 0.9.
func NewOptimizer(name string) (Optimizer, error) {
	switch name {
	case Adam:
		return Optimizer{Name: Adam, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7}, nil
	case AdamW:
		return Optimizer{Name: AdamW, LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Epsilon: 1e-7, WeightDecay: 0.004}, nil
	case SGD:
		return Optimizer{Name: SGD, LR: 0.01, Momentum: 0.9}, nil
	}
	return Optimizer{}, fmt.Errorf("head: unknown optimizer %q: use %s, %s or %s", name, Adam, AdamW, SGD)
}

// Validate checks the hyper-parameters.
func (o Optimizer) Validate() error {
	bad := func(what string) error { return fmt.Errorf("head: optimizer %s: %s", o.Name, what) }
	if _, err := NewOptimizer(o.Name); err != nil {
		return err
	}
	switch {
	case !(o.LR > 0) || math.IsInf(float64(o.LR), 0):
		return bad("learning rate must be a positive number")
	case o.WeightDecay < 0:
		return bad("weight decay must be >= 0")
	case o.Name != SGD && (o.Beta1 < 0 || o.Beta1 >= 1 || o.Beta2 < 0 || o.Beta2 >= 1 || !(o.Epsilon > 0)):
		return bad("betas must be in [0, 1) and epsilon > 0")
	case o.Name == SGD && (o.Momentum < 0 || o.Momentum >= 1):
		return bad("momentum must be in [0, 1)")
	}
	return nil
}

// Slots is the number of per-parameter state buffers the rule keeps:
// Adam's two moments, or SGD's velocity when momentum is on.
func (o Optimizer) Slots() int {
	switch {
	case o.Name == SGD && o.Momentum == 0:
		return 0
	case o.Name == SGD:
		return 1
	}
	return 2
}

// AdamStepSize is Keras's bias-corrected step size for step t (from 1):
// lr * sqrt(1-beta2^t) / (1-beta1^t). Computed on the host in float64 so
// that every device applies the same value.
func (o Optimizer) AdamStepSize(t int) float32 {
	b1 := 1 - math.Pow(float64(o.Beta1), float64(t))
	b2 := 1 - math.Pow(float64(o.Beta2), float64(t))
	return float32(float64(o.LR) * math.Sqrt(b2) / b1)
}
