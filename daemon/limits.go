package daemon

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrBusy answers a request the daemon cannot take now (503, Retry-After).
var ErrBusy = errors.New("daemon: busy")

// budget is a weighted semaphore: requests take units (bytes, slots) and
// wait a bounded time for them.
type budget struct {
	mu      sync.Mutex
	max     int64
	used    int64
	changed chan struct{} // closed and replaced at every release
}

func newBudget(max int64) *budget { return &budget{max: max, changed: make(chan struct{})} }

// acquire takes n units, waiting at most wait (or until ctx ends).
func (b *budget) acquire(ctx context.Context, n int64, wait time.Duration) error {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		b.mu.Lock()
		if b.used+n <= b.max {
			b.used += n
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return ErrBusy
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (b *budget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

func (b *budget) inUse() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
