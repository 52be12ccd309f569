package parallel

import (
	"runtime"
	"sync"
)

// For runs fn over [0, n) split into contiguous blocks across up to
// GOMAXPROCS goroutines. grain is the smallest block worth a goroutine, in
// iterations; small loops run inline.
func For(n, grain int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	workers, block := Split(n, grain, runtime.GOMAXPROCS(0))
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += block {
		hi := min(lo+block, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}

// Split is how For cuts n iterations with grain on threads workers:
// the goroutines it runs (1: inline) and the iterations of the first,
// largest block. Memory plans use it to size what each worker holds.
func Split(n, grain, threads int) (workers, block int) {
	if n <= 0 {
		return 0, 0
	}
	workers = max(1, min(threads, (n+max(grain, 1)-1)/max(grain, 1)))
	return workers, (n + workers - 1) / workers
}

// Grain returns how many iterations of cost perIter (in elements
// touched) make a block worth a goroutine (~32k elements).
func Grain(perIter int) int {
	const target = 1 << 15
	if perIter <= 0 {
		return target
	}
	return max(1, target/perIter)
}
