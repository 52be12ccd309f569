package head

import (
	"fmt"
	"math"

	"github.com/graft-ml/graft/internal/util/parallel"
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
	// Elementwise, so splitting across cores changes no bit; on a 7x7x2048
	// conv head's 4.7M parameters a serial pass was a sixth of the step.
	decay := opt.LR * opt.WeightDecay
	k := adamConsts{decay: decay, c1: 1 - opt.Beta1, c2: 1 - opt.Beta2, alpha: opt.AdamStepSize(step), eps: opt.Epsilon}
	parallel.For(len(p), 1<<14, func(lo, hi int) {
		if opt.Name != SGD { // Adam, AdamW
			mid := max(lo, min(hi, layout.DecayEnd))
			adam(p[lo:mid], g[lo:mid], s[0][lo:mid], s[1][lo:mid], true, &k)
			adam(p[mid:hi], g[mid:hi], s[0][mid:hi], s[1][mid:hi], false, &k)
			return
		}
		for i := lo; i < min(hi, layout.DecayEnd); i++ {
			p[i] -= decay * p[i]
		}
		p, g := p[lo:hi], g[lo:hi]
		if opt.Momentum == 0 {
			for i, gi := range g {
				p[i] -= opt.LR * gi
			}
			return
		}
		v := s[0][lo:hi]
		for i, gi := range g {
			v[i] = opt.Momentum*v[i] - opt.LR*gi
			if opt.Nesterov {
				p[i] += opt.Momentum*v[i] - opt.LR*gi
			} else {
				p[i] += v[i]
			}
		}
	})
	return nil
}

// adamConsts are one Adam step's scalars, laid out for adamAsm.
type adamConsts struct {
	decay, c1, c2, alpha, eps float32 // c1 = 1-beta1, c2 = 1-beta2
}

// adam applies decoupled weight decay (when withDecay) and one Adam step
// to p, updating the moments m and v: the assembly for whole groups of 8
// where the CPU has it, adamGo for the rest.
func adam(p, g, m, v []float32, withDecay bool, k *adamConsts) {
	n := 0
	if hasVecAsm && len(p) >= 8 {
		n = len(p) / 8 * 8
		d := 0
		if withDecay {
			d = 1
		}
		_, _, _ = g[n-1], m[n-1], v[n-1]
		adamAsm(n, &p[0], &g[0], &m[0], &v[0], d, k)
	}
	adamGo(p[n:], g[n:], m[n:], v[n:], withDecay, k)
}

// adamGo is the scalar Adam update, the reference adamAsm must equal.
func adamGo(p, g, m, v []float32, withDecay bool, k *adamConsts) {
	for i, gi := range g[:len(p)] {
		if withDecay {
			p[i] -= k.decay * p[i]
		}
		m[i] += (gi - m[i]) * k.c1
		v[i] += (gi*gi - v[i]) * k.c2
		p[i] -= k.alpha * m[i] / (float32(math.Sqrt(float64(v[i]))) + k.eps)
	}
}
