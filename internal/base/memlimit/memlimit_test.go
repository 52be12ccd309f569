package memlimit

import (
	"math"
	"runtime/debug"
	"testing"

	"go.uber.org/zap"
)

func TestFor(t *testing.T) {
	for _, c := range []struct {
		host, current, want int64
	}{
		{806_000_000, math.MaxInt64, 1_209_000_000 + 64<<20}, // no limit yet: 1.5x the plan and 64 MiB
		{806_000_000, 1 << 30, 0},                            // a lower one holds (the daemon's --memory-limit)
		{806_000_000, 2 << 30, 1_209_000_000 + 64<<20},
		{0, math.MaxInt64, 0}, // no plan, no limit
	} {
		if got := For(c.host, c.current); got != c.want {
			t.Errorf("For(%d, %d) = %d, want %d", c.host, c.current, got, c.want)
		}
	}
}

// TestSet checks that Set changes the process's limit and restore puts
// it back, and that GOMEMLIMIT in the environment wins.
func TestSet(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Setenv("GOMEMLIMIT", "")
	limit, restore := Set(1<<30, zap.NewNop())
	if got := debug.SetMemoryLimit(-1); limit != 3<<29+64<<20 || got != limit {
		t.Errorf("Set(1 GiB): limit %d, in force %d; want 1.5 GiB + 64 MiB", limit, got)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("after restore the limit is %d, was %d", got, before)
	}
	t.Setenv("GOMEMLIMIT", "4GiB")
	if limit, restore := Set(1<<30, zap.NewNop()); limit != 0 || debug.SetMemoryLimit(-1) != before {
		t.Errorf("GOMEMLIMIT set: Set made limit %d", limit)
		restore()
	}
}
