package parallel

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// TestForCoversEachIndexOnce: every index of [0, n) is visited exactly
// once, in blocks that do not overlap, whatever n and grain.
func TestForCoversEachIndexOnce(t *testing.T) {
	for _, c := range []struct{ n, grain int }{
		{0, 1}, {1, 1}, {7, 1}, {7, 100}, {1000, 3}, {1001, 0}, {65537, Grain(1)},
	} {
		seen := make([]atomic.Int32, c.n)
		var calls atomic.Int32
		For(c.n, c.grain, func(lo, hi int) {
			calls.Add(1)
			if lo < 0 || hi > c.n || lo >= hi {
				t.Errorf("n=%d grain=%d: block [%d, %d)", c.n, c.grain, lo, hi)
				return
			}
			for i := lo; i < hi; i++ {
				seen[i].Add(1)
			}
		})
		for i := range seen {
			if v := seen[i].Load(); v != 1 {
				t.Fatalf("n=%d grain=%d: index %d visited %d times", c.n, c.grain, i, v)
			}
		}
		// A loop smaller than two grains is one block, run inline.
		if g := max(c.grain, 1); c.n > 0 && c.n <= g && calls.Load() != 1 {
			t.Errorf("n=%d grain=%d: %d blocks, want 1", c.n, c.grain, calls.Load())
		}
	}
}

func TestGrain(t *testing.T) {
	for _, c := range []struct{ per, want int }{{0, 1 << 15}, {-3, 1 << 15}, {1, 1 << 15}, {1 << 10, 32}, {1 << 20, 1}} {
		if got := Grain(c.per); got != c.want {
			t.Errorf("Grain(%d) = %d, want %d", c.per, got, c.want)
		}
	}
}

// TestSplit: For's real blocks (counted as it runs them) are the workers
// and the first block's size that Split reports.
func TestSplit(t *testing.T) {
	threads := runtime.GOMAXPROCS(0)
	for _, c := range []struct{ n, grain int }{{1, 1}, {7, 1}, {7, 100}, {1000, 3}, {1001, 0}, {33, 16}} {
		var calls atomic.Int32
		var first atomic.Int64
		For(c.n, c.grain, func(lo, hi int) {
			calls.Add(1)
			if lo == 0 {
				first.Store(int64(hi))
			}
		})
		workers, block := Split(c.n, c.grain, threads)
		if int(calls.Load()) != workers || int(first.Load()) != block {
			t.Errorf("n=%d grain=%d: For ran %d blocks, the first of %d; Split says %d and %d", c.n, c.grain, calls.Load(), first.Load(), workers, block)
		}
	}
}
