package plan

// SplitK decides how a tiled GEMM with `tiles` output tiles and a
// reduction of length `reduce` is cut so that the device's `slots`
// concurrently resident blocks stay busy: the reduction is split into
// `splits` slices of `slice` elements (a multiple of the kernels' K step,
// 8 for the SIMT kernels, 16 for the tensor-core ones), each computed by
// its own grid layer and summed by splitk_reduce.
// It takes the fewest splits whose wave efficiency (blocks over launched
// wave capacity) is within 5% of the best, keeping every slice at least
// 256 long and at most 32 splits (the splits are grid z, whose limit,
// 65535, is far off; more splits only cost workspace memory).
func SplitK(tiles, reduce, slots, kStep int) (splits, slice int) {
	const minSteps, maxSplits = 32, 32
	steps := max(1, (reduce+kStep-1)/kStep)
	limit := max(1, min(maxSplits, steps/minSteps))
	if tiles < 1 || slots < 1 {
		limit = 1
	}
	eff := func(s int) float64 {
		blocks := tiles * s
		waves := (blocks + slots - 1) / slots
		return float64(blocks) / float64(waves*slots)
	}
	best := 0.0
	for s := 1; s <= limit; s++ {
		best = max(best, eff(s))
	}
	chosen := 1
	for s := 1; s <= limit; s++ {
		if eff(s) >= 0.95*best {
			chosen = s
			break
		}
	}
	slice = (steps + chosen - 1) / chosen * kStep
	splits = max(1, (reduce+slice-1)/slice)
	return splits, slice
}
