package featcache

import (
	"testing"
	"time"
)

// BenchmarkPut is one entry of 3136 floats (conv2d_2 of the test
// backbone: 12560 bytes) written under a cap that keeps about 2000 of
// them: the write, the rename and count under the lock, and the trims
// (one per 200 Puts, each walking the cache).
func BenchmarkPut(b *testing.B) {
	const size = 3136
	root := b.TempDir()
	ns, err := Open(root, testKey, size, 2000*entryBytes(size))
	if err != nil {
		b.Fatal(err)
	}
	f := feats(size, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ns.Put(sample(i), f); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrim is one trim of a cache of 20000 entries that evicts
// nothing: the walk, the stats and the sort it costs.
func BenchmarkTrim(b *testing.B) {
	const size = 16
	root := b.TempDir()
	ns, _ := Open(root, testKey, size, 0)
	f := feats(size, 1)
	for i := 0; i < 20000; i++ {
		ns.Put(sample(i), f)
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, _, err := Prune(root, 0, 1<<40); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/trim")
}
