package dataset

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/data/images"
)

// ErrEmptyImage is a sample of 0 bytes.
var ErrEmptyImage = fmt.Errorf("%w: the file is empty (0 bytes): was it written or downloaded completely?", images.ErrImage)

// Hash reads every sample's encoded bytes that has no Digest yet and sets
// it, in parallel (workers <= 0: GOMAXPROCS). A sample that cannot be read,
// or is empty (ErrEmptyImage), keeps a zero Digest and gets its error at
// its index: thousands of empty files (failed downloads) are bad files,
// not one group of duplicates that the split would keep on one side.
func Hash(ctx context.Context, ds *Dataset, workers int) []error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	errs := make([]error, ds.Len())
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, max(ds.Len(), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				b, err := ds.Samples[i].Encoded()
				if err == nil && len(b) == 0 {
					err = ErrEmptyImage
				}
				if err != nil {
					errs[i] = err
					continue
				}
				ds.Samples[i].Digest = sha256.Sum256(b)
			}
		}()
	}
	for i := range ds.Samples {
		if ctx.Err() != nil {
			break
		}
		if ds.Samples[i].Digest == ([32]byte{}) {
			next <- i
		}
	}
	close(next)
	wg.Wait()
	return errs
}

// Duplicates reports the groups of byte-identical images in a data set.
type Duplicates = api.Duplicates

// maxDuplicateGroups is how many groups Duplicates shows as examples.
const maxDuplicateGroups = 5

// Duplicates groups the hashed samples by digest (see Hash; unhashed
// samples are left out): counts, and as examples the first 5 groups each
// cut to its first api.MaxExamples IDs (WriteDuplicates writes them all).
func (d *Dataset) Duplicates() Duplicates {
	var r Duplicates
	for _, g := range d.groups() {
		if len(g) < 2 {
			continue
		}
		r.Groups++
		r.Files += len(g)
		conflict := false
		for _, i := range g {
			conflict = conflict || d.Samples[i].Label != d.Samples[g[0]].Label
		}
		if conflict {
			r.Conflicting++
		}
		if len(r.Examples) < maxDuplicateGroups {
			ids := make([]string, min(len(g), api.MaxExamples))
			for j := range ids {
				ids[j] = d.Samples[g[j]].ID
			}
			r.Examples = append(r.Examples, ids)
		}
	}
	return r
}

// DuplicateLine is one line of WriteDuplicates' list: a sample in a group
// of byte-identical images (groups numbered from 1, in the order of
// Duplicates' examples).
type DuplicateLine struct {
	Group  int    `json:"group"`
	SHA256 string `json:"sha256"`
	ID     string `json:"id"`
	Class  string `json:"class"`
}

// WriteDuplicates writes every sample of every group of byte-identical
// images to w, one JSON line each.
func (d *Dataset) WriteDuplicates(w io.Writer) error {
	bw := bufio.NewWriter(w)
	enc := json.NewEncoder(bw)
	n := 0
	for _, g := range d.groups() {
		if len(g) < 2 {
			continue
		}
		n++
		for _, i := range g {
			s := d.Samples[i]
			if err := enc.Encode(DuplicateLine{Group: n, SHA256: s.HexDigest(), ID: s.ID, Class: d.Classes[s.Label]}); err != nil {
				return err
			}
		}
	}
	return bw.Flush()
}

// groups lists the samples' indices by content, each group in sample
// order and the groups in the order of their first sample; a sample
// without a digest is a group of its own.
func (d *Dataset) groups() [][]int {
	var out [][]int
	at := map[[32]byte]int{}
	for i, s := range d.Samples {
		if s.Digest == ([32]byte{}) {
			out = append(out, []int{i})
			continue
		}
		if g, ok := at[s.Digest]; ok {
			out[g] = append(out[g], i)
			continue
		}
		at[s.Digest] = len(out)
		out = append(out, []int{i})
	}
	return out
}

// Overlap counts the samples of d whose content is also in other (both
// hashed), and how many of those are the same files (same ID).
func (d *Dataset) Overlap(other *Dataset) (samples, sameFiles int) {
	digests := map[[32]byte]bool{}
	ids := map[string]bool{}
	for _, s := range other.Samples {
		if s.Digest != ([32]byte{}) {
			digests[s.Digest] = true
		}
		ids[s.ID] = true
	}
	for _, s := range d.Samples {
		if s.Digest != ([32]byte{}) && digests[s.Digest] {
			samples++
			if ids[s.ID] {
				sameFiles++
			}
		}
	}
	return samples, sameFiles
}

// HexDigest is a sample's digest as hex ("" when it has none).
func (s Sample) HexDigest() string {
	if s.Digest == ([32]byte{}) {
		return ""
	}
	return hex.EncodeToString(s.Digest[:])
}
