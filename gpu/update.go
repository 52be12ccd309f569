package gpu

import (
	"fmt"

	"github.com/graft-ml/graft/head"
)

// Optimizer modes of head.cu's optimizer_step.
const (
	modeSGD = iota
	modeMomentum
	modeNesterov
	modeAdam
)

// Update implements head.Ops: one launch of the fused optimizer kernel
// over the whole flat parameter buffer, with the hyper-parameters derived
// on the host exactly as head/cpu_update.go does (float32 products,
// Keras's bias-corrected Adam step size in float64).
func (o *CUDAOps) Update(opt head.Optimizer, layout head.Layout, step int, params, grads head.Buffer, slots []head.Buffer) error {
	p, err := o.device(params)
	if err != nil {
		return err
	}
	g, err := o.device(grads)
	if err != nil {
		return err
	}
	if g.n != p.n || p.n != layout.Total {
		return fmt.Errorf("%w: update of %d parameters with %d gradients (layout %d)", head.ErrShape, p.n, g.n, layout.Total)
	}
	if len(slots) != opt.Slots() {
		return fmt.Errorf("%w: %s needs %d slot buffers, got %d", head.ErrShape, opt.Name, opt.Slots(), len(slots))
	}
	var s [2]DevicePtr
	for i, b := range slots {
		d, err := o.device(b)
		if err != nil {
			return err
		}
		if d.n != p.n {
			return fmt.Errorf("%w: slot %d has %d floats for %d parameters", head.ErrShape, i, d.n, p.n)
		}
		s[i] = d.ptr
	}
	if step < 1 {
		return fmt.Errorf("head: optimizer step %d: steps count from 1", step)
	}
	if layout.DecayEnd < 0 || layout.DecayEnd > layout.Total {
		return fmt.Errorf("%w: decay prefix %d outside the %d parameters", head.ErrShape, layout.DecayEnd, layout.Total)
	}
	decay := opt.LR * opt.WeightDecay
	var mode int
	var alpha, omb1, omb2 float32
	switch {
	case opt.Name == head.SGD && opt.Momentum == 0:
		mode = modeSGD
	case opt.Name == head.SGD && opt.Nesterov:
		mode = modeNesterov
	case opt.Name == head.SGD:
		mode = modeMomentum
	default:
		mode = modeAdam
		alpha, omb1, omb2 = opt.AdamStepSize(step), 1-opt.Beta1, 1-opt.Beta2
	}
	if p.n == 0 {
		return nil
	}
	return o.ctx.Do(func() error {
		return o.mod.optimizerStep.launch(o.compute, linear(p.n), blockSize, ptrArg(p.ptr), ptrArg(g.ptr), ptrArg(s[0]), ptrArg(s[1]),
			intArg(p.n), intArg(layout.DecayEnd), intArg(mode), floatArg(float64(opt.LR)), floatArg(float64(decay)),
			floatArg(float64(opt.Momentum)), floatArg(float64(alpha)), floatArg(float64(omb1)), floatArg(float64(omb2)),
			floatArg(float64(opt.Epsilon)))
	})
}
