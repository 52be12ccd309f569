package dataset

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// CheckFraction validates a validation fraction from a user (e.g.
// --val-split): it must be in [0, 1).
func CheckFraction(f float64) error {
	if math.IsNaN(f) || f < 0 || f >= 1 {
		return fmt.Errorf("%w: validation fraction %v: use a number in [0, 1), e.g. 0.2", ErrArgument, f)
	}
	return nil
}

// Split divides ds into a training and a validation set, stratified by
// class and deterministic for a seed. For each class with n samples, the
// class's samples are shuffled with a PCG generator seeded (seed, class
// index), and the first round(fraction*n) go to validation, at least 1
// when fraction > 0 and n >= 2, and at most n-1 so that training keeps
// every class. Both sets keep the original sample order and ds's classes.
// A fraction outside [0, 1) is clamped (CheckFraction reports it).
func Split(ds *Dataset, fraction float64, seed uint64) (train, val *Dataset) {
	if math.IsNaN(fraction) || fraction < 0 {
		fraction = 0
	}
	fraction = min(fraction, 1)
	byClass := make([][]int, len(ds.Classes))
	for i, s := range ds.Samples {
		if s.Label >= 0 && s.Label < len(byClass) {
			byClass[s.Label] = append(byClass[s.Label], i)
		}
	}
	inVal := make([]bool, len(ds.Samples))
	for c, idx := range byClass {
		n := len(idx)
		k := int(math.Round(fraction * float64(n)))
		if fraction > 0 && n >= 2 {
			k = max(k, 1)
		}
		k = min(k, max(n-1, 0))
		if k == 0 {
			continue
		}
		shuffled := slices.Clone(idx)
		rng := rand.New(rand.NewPCG(seed, uint64(c)))
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		for _, i := range shuffled[:k] {
			inVal[i] = true
		}
	}
	var tr, va []Sample
	for i, s := range ds.Samples {
		if inVal[i] {
			va = append(va, s)
		} else {
			tr = append(tr, s)
		}
	}
	return ds.with(tr), ds.with(va)
}
