package head

import (
	"fmt"
	"math"
)

// Update implements Ops: one pass over the flat parameter buffer, the
// CPU twin of the fused optimizer kernel.
func (o *CPUOps) Update(opt Optimizer, layout Layout, step int, params, grads Buffer, slots []Buffer) error {
	p, err := host(params)
	if err != nil {
		return err
	}
	g, err := host(grads)
	if err != nil {
		return err
	}
	if len(g) != len(p) || len(p) != layout.Total {
		return fmt.Errorf("%w: update of %d parameters with %d gradients (layout %d)", ErrShape, len(p), len(g), layout.Total)
	}
	if len(slots) != opt.Slots() {
		return fmt.Errorf("%w: %s needs %d slot buffers, got %d", ErrShape, opt.Name, opt.Slots(), len(slots))
	}
	s := make([]cpuBuffer, len(slots))
	for i, b := range slots {
		if s[i], err = host(b); err != nil {
			return err
		}
		if len(s[i]) != len(p) {
			return fmt.Errorf("%w: slot %d has %d floats for %d parameters", ErrShape, i, len(s[i]), len(p))
		}
	}
	if step < 1 {
		return fmt.Errorf("head: optimizer step %d: steps count from 1", step)
	}
	decay := opt.LR * opt.WeightDecay
	for i := range p[:layout.DecayEnd] {
		p[i] -= decay * p[i]
	}
	switch {
	case opt.Name == SGD && opt.Momentum == 0:
		for i, gi := range g {
			p[i] -= opt.LR * gi
		}
	case opt.Name == SGD:
		v := s[0]
		for i, gi := range g {
			v[i] = opt.Momentum*v[i] - opt.LR*gi
			if opt.Nesterov {
				p[i] += opt.Momentum*v[i] - opt.LR*gi
			} else {
				p[i] += v[i]
			}
		}
	default:
		m, v := s[0], s[1]
		alpha := opt.AdamStepSize(step)
		for i, gi := range g {
			m[i] += (gi - m[i]) * (1 - opt.Beta1)
			v[i] += (gi*gi - v[i]) * (1 - opt.Beta2)
			p[i] -= alpha * m[i] / (float32(math.Sqrt(float64(v[i]))) + opt.Epsilon)
		}
	}
	return nil
}
