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
// class and deterministic for a seed, keeping byte-identical images (same
// Digest, see Hash) on one side so that validation never scores a copy of
// a training image. Samples are taken in groups of identical content (a
// sample without a digest is its own group); a group belongs to the class
// of its first sample. For each class with n samples, the class's groups
// are shuffled with a PCG generator seeded (seed, class index) and go to
// validation in that order while it holds fewer than round(fraction*n)
// of the class, at least 1 when fraction > 0 and n >= 2, never so many
// that training loses the class. Without duplicates this is the
// per-sample split of graft before groups (same seed, same split). Both
// sets keep the original sample order and ds's classes. A fraction outside
// [0, 1) is clamped (CheckFraction reports it).
func Split(ds *Dataset, fraction float64, seed uint64) (train, val *Dataset) {
	return split(ds, fraction, seed, ds.groups())
}

// SplitSamples is Split sample by sample, ignoring digests: how runs
// made before Split kept identical images together were split, for
// reading those runs back.
func SplitSamples(ds *Dataset, fraction float64, seed uint64) (train, val *Dataset) {
	groups := make([][]int, ds.Len())
	for i := range groups {
		groups[i] = []int{i}
	}
	return split(ds, fraction, seed, groups)
}

func split(ds *Dataset, fraction float64, seed uint64, groups [][]int) (train, val *Dataset) {
	if math.IsNaN(fraction) || fraction < 0 {
		fraction = 0
	}
	fraction = min(fraction, 1)
	counts := ds.Counts()
	byClass := make([][][]int, len(ds.Classes))
	for _, g := range groups {
		if l := ds.Samples[g[0]].Label; l >= 0 && l < len(byClass) {
			byClass[l] = append(byClass[l], g)
		}
	}
	inVal := make([]bool, len(ds.Samples))
	for c, gs := range byClass {
		n := counts[c]
		k := int(math.Round(fraction * float64(n)))
		if fraction > 0 && n >= 2 {
			k = max(k, 1)
		}
		k = min(k, max(n-1, 0))
		if k == 0 {
			continue
		}
		shuffled := slices.Clone(gs)
		rng := rand.New(rand.NewPCG(seed, uint64(c)))
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		taken := 0
		for _, g := range shuffled {
			if taken >= k {
				break
			}
			if taken+len(g) > n-1 {
				continue // training keeps the class
			}
			for _, i := range g {
				inVal[i] = true
			}
			taken += len(g)
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
