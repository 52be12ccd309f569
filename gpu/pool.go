package gpu

import (
	"fmt"

	"github.com/graft-ml/graft/gpu/plan"
)

// pool is a caching allocator with a byte budget. Freed blocks are kept
// in per-size free lists and handed out again, so that the per-step
// scratch memory costs no cuMemAlloc after the first step; the budget
// counts the blocks in use and the cached ones, and when a request does
// not fit, the cache is released first. It must be called inside
// the context's do.
type pool struct {
	ctx    Context
	budget int64
	used   int64 // bytes handed out
	cached int64 // bytes in the free lists
	free   map[int64][]DevicePtr
	peak   int64
}

func newPool(ctx Context, budget int64) *pool {
	return &pool{ctx: ctx, budget: budget, free: map[int64][]DevicePtr{}}
}

func (p *pool) alloc(bytes int64) (DevicePtr, int64, error) {
	size := plan.RoundSize(bytes)
	if l := p.free[size]; len(l) > 0 {
		ptr := l[len(l)-1]
		p.free[size] = l[:len(l)-1]
		p.cached -= size
		p.used += size
		return ptr, size, nil
	}
	if p.used+size > p.budget {
		return 0, 0, fmt.Errorf("%w: a request of %d bytes (%s) does not fit the GPU memory budget of %d bytes (%s) with %d bytes (%s) in use: lower the batch size, cache fewer features on the device or raise the budget",
			ErrOutOfMemory, bytes, human(bytes), p.budget, human(p.budget), p.used, human(p.used))
	}
	if p.used+p.cached+size > p.budget {
		if err := p.trim(); err != nil {
			return 0, 0, err
		}
	}
	ptr, err := p.ctx.Alloc(size)
	if err != nil && p.cached > 0 {
		if terr := p.trim(); terr != nil {
			return 0, 0, terr
		}
		ptr, err = p.ctx.Alloc(size)
	}
	if err != nil {
		return 0, 0, fmt.Errorf("a request of %d bytes (%s) within the budget of %d bytes (%s), %d bytes in use: the device itself has no room (other processes?): %w",
			bytes, human(bytes), p.budget, human(p.budget), p.used, cudaError("cuMemAlloc", err))
	}
	p.used += size
	p.peak = max(p.peak, p.used)
	return ptr, size, nil
}

// release returns a block to the cache.
func (p *pool) release(ptr DevicePtr, size int64) {
	p.used -= size
	p.cached += size
	p.free[size] = append(p.free[size], ptr)
}

// trim frees every cached block, after waiting for the device: a cached
// block may still be in use by kernels issued before its release.
func (p *pool) trim() error {
	if p.cached == 0 {
		return nil
	}
	first := cudaError("synchronise before freeing", p.ctx.Synchronize())
	for size, l := range p.free {
		for _, ptr := range l {
			if err := p.ctx.Free(ptr); err != nil && first == nil {
				first = cudaError("cuMemFree", err)
			}
			p.cached -= size
		}
		delete(p.free, size)
	}
	return first
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
}
