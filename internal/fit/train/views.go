package train

import (
	"fmt"

	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/augment"
)

// groupViews checks that the training features hold each sample's views
// in a row (dataset.Views; a bad image is bad in every view) and keeps
// one label and digest per sample. Without views the rows are the
// samples.
func (r *runner) groupViews() error {
	set, k := r.trainSet, r.cfg.Views
	if k <= 1 {
		r.trainLabels = set.Labels
		return nil
	}
	n := set.Len() / k
	if n*k != set.Len() {
		return fmt.Errorf("train: %d feature rows are not %d views of each image", set.Len(), k)
	}
	r.trainLabels, r.trainKeys = make([]int32, n), make([][32]byte, n)
	for j := range n {
		for v := 1; v < k; v++ {
			if set.IDs[j*k+v] != set.IDs[j*k] {
				return fmt.Errorf("train: feature row %d is %s, expected view %d of %s", j*k+v, set.IDs[j*k+v], v, set.IDs[j*k])
			}
		}
		r.trainLabels[j], r.trainKeys[j] = set.Labels[j*k], set.Digests[j*k] // view 0's key is the image's digest
	}
	return nil
}

// epochSource is the training source of epoch e (from 0): with views,
// sample j reads its row of augment.ViewOf's view for the epoch.
func (r *runner) epochSource(e int) head.Source {
	k := r.cfg.Views
	if k <= 1 {
		return r.trainSrc
	}
	rows := make([]int32, len(r.trainKeys))
	for j, key := range r.trainKeys {
		rows[j] = int32(j*k + augment.ViewOf(key, e, k))
	}
	return &viewRows{src: r.trainSrc, rows: rows}
}

// viewRows maps a batch of samples to their rows of the epoch.
type viewRows struct {
	src  head.Source
	rows []int32
}

func (v *viewRows) pick(idx []int32) []int32 {
	out := make([]int32, len(idx)) // a new slice: a source may keep it as the batch's local indices
	for i, j := range idx {
		out[i] = v.rows[j]
	}
	return out
}

// Batch implements head.Source.
func (v *viewRows) Batch(idx []int32) (head.Buffer, []int32, error) { return v.src.Batch(v.pick(idx)) }

// Prefetch implements head.Prefetcher when the source does.
func (v *viewRows) Prefetch(idx []int32) {
	if p, ok := v.src.(head.Prefetcher); ok {
		p.Prefetch(v.pick(idx))
	}
}
