package daemon

import (
	"context"
	"errors"
	"testing"
	"time"
)

// A budget gives what it has, refuses with ErrBusy what does not fit in
// time, and gives again once released.
func TestBudget(t *testing.T) {
	b := newBudget(10)
	ctx := context.Background()
	if err := b.acquire(ctx, 7, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 4, 10*time.Millisecond); !errors.Is(err, ErrBusy) {
		t.Fatalf("over the budget: %v", err)
	}
	done := make(chan error)
	go func() { done <- b.acquire(ctx, 4, time.Minute) }()
	b.release(7)
	if err := <-done; err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if b.inUse() != 4 {
		t.Errorf("in use %d, want 4", b.inUse())
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := b.acquire(cctx, 7, time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
