package gpu

import (
	"github.com/graft-ml/graft/gpu/plan"
	"github.com/graft-ml/graft/head"
)

// ReserveScratch allocates the steps' scratch (plan.Step at this
// device's occupancy) now, so that what is uploaded next (the features) leaves room for the steps:
// a step then allocates nothing.
func (o *CUDAOps) ReserveScratch(spec head.Spec, batch, evalBatch int) error {
	if err := spec.Validate(); err != nil {
		return err
	}
	// The steps' own plan: this precision's kernels at their occupancy.
	g := o.geom(spec)
	sp := plan.Scratch{}
	if batch > 0 {
		plan.Merge(sp, plan.Step(spec, batch, o.mod.slots(g), true, g.Geom))
	}
	if evalBatch > 0 {
		plan.Merge(sp, plan.Step(spec, evalBatch, o.mod.slots(g), false, g.Geom))
	}
	return o.ctx.Do(func() error {
		for name, bytes := range sp {
			if _, err := o.scratchBuf(name, bytes); err != nil {
				return err
			}
		}
		return nil
	})
}
