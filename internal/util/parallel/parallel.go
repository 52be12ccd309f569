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
	if grain < 1 {
		grain = 1
	}
	workers := runtime.GOMAXPROCS(0)
	if maxW := (n + grain - 1) / grain; workers > maxW {
		workers = maxW
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	var wg sync.WaitGroup
	block := (n + workers - 1) / workers
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

// Grain returns how many iterations of cost perIter (in elements
// touched) make a block worth a goroutine (~32k elements).
func Grain(perIter int) int {
	const target = 1 << 15
	if perIter <= 0 {
		return target
	}
	return max(1, target/perIter)
}
