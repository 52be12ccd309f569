package dataset

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestScaleIndex measures, for each size in $GRAFT_SCALE_SIM (e.g.
// "10000,100000,1000000"; unset: skipped), what the sample index of a
// synthetic data set costs: the heap it holds after listing and hashing
// (bytes per sample, from runtime.MemStats around building it), and the
// time of listing, hashing, the split and duplicate detection. make
// scale-sim runs it; docs/scale-out.md has the numbers.
func TestScaleIndex(t *testing.T) {
	sizes := os.Getenv("GRAFT_SCALE_SIM")
	if sizes == "" {
		t.Skip("set GRAFT_SCALE_SIM=10000,100000 (or run make scale-sim)")
	}
	for _, f := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("GRAFT_SCALE_SIM: %q is not a size", f)
		}
		heap := func() uint64 {
			runtime.GC() // twice: sync.Pool's victims (the PNG encoders) go at the second
			runtime.GC()
			var m runtime.MemStats
			runtime.ReadMemStats(&m)
			return m.HeapAlloc
		}
		before := heap()
		t0 := time.Now()
		ds, err := Open(SyntheticPrefix+f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t1 := time.Now()
		Hash(context.Background(), ds, 0)
		t2 := time.Now()
		held := heap() - before
		tr, va := Split(ds, 0.2, 1)
		t3 := time.Now()
		dup := ds.Duplicates()
		t4 := time.Now()
		withSplit := heap() - before
		t.Logf("n=%d index %.0f B/sample (%.1f MiB), with the split %.0f B/sample; list %.2fs, hash %.2fs (%.0f images/s), split %.2fs, duplicates %.2fs (%d groups)",
			n, float64(held)/float64(n), float64(held)/(1<<20), float64(withSplit)/float64(n),
			t1.Sub(t0).Seconds(), t2.Sub(t1).Seconds(), float64(n)/t2.Sub(t1).Seconds(), t3.Sub(t2).Seconds(), t4.Sub(t3).Seconds(), dup.Groups)
		if per := float64(held) / float64(n); per > 200 {
			t.Errorf("n=%d: the index holds %.0f bytes per sample, over the 200 B target", n, per)
		}
		runtime.KeepAlive(tr)
		runtime.KeepAlive(va)
		runtime.KeepAlive(ds)
	}
}
