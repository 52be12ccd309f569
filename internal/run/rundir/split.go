package rundir

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/data/dataset"
)

// SplitFile records which samples a run trained and validated on, with
// their content digests: `graft eval --split` scores exactly those
// samples, --resume continues on them, and eval recognises training
// images in other data.
const SplitFile = "split.json"

// Split parts.
const (
	SplitTrain = "train"
	SplitVal   = "val"
)

// SplitRecord is split.json.
type SplitRecord struct {
	Train []SplitSample `json:"train"`
	Val   []SplitSample `json:"val"`
}

// SplitSample is one sample of a split: its ID (path, or file#record) and
// the SHA-256 of its encoded image ("" when it could not be read).
type SplitSample struct {
	ID     string `json:"id"`
	SHA256 string `json:"sha256,omitempty"`
}

// SplitSamples lists ds's samples as a split records them.
func SplitSamples(ds *dataset.Dataset) []SplitSample {
	out := make([]SplitSample, ds.Len())
	for i, s := range ds.Samples {
		out[i] = SplitSample{ID: s.ID, SHA256: s.HexDigest()}
	}
	return out
}

// OpenSplit reopens the data of the run in dir as it was split: from
// split.json, or for runs made before it, by the per-sample split they
// used (or their separate validation data).
func OpenSplit(cfg *api.RunSpec, dir string, classes []string) (train, val *dataset.Dataset, err error) {
	// A file swapped for a link out of the roots since the run is a bad
	// file, as a deleted one is (pick).
	opts := func(classes []string) dataset.Options {
		return dataset.Options{Classes: classes, Roots: cfg.AllowRoots, OutsideIsBad: true}
	}
	ds, err := dataset.Open(cfg.Data, opts(classes))
	if err != nil {
		return nil, nil, err
	}
	rec, err := ReadSplit(dir)
	if err != nil {
		return nil, nil, err
	}
	if rec == nil {
		if cfg.Val != "" {
			val, err = dataset.Open(cfg.Val, opts(ds.Classes))
			return ds, val, err
		}
		train, val = dataset.SplitSamples(ds, cfg.ValSplit, cfg.Seed)
		return train, val, nil
	}
	if train, err = pick(ds, rec.Train, dir); err != nil {
		return nil, nil, err
	}
	if cfg.Val != "" {
		ds, err = dataset.Open(cfg.Val, opts(ds.Classes))
		if err != nil {
			return nil, nil, err
		}
	}
	val, err = pick(ds, rec.Val, dir)
	return train, val, err
}

// ReadSplit reads dir's split.json; nil without error for a run made
// before graft recorded splits.
func ReadSplit(dir string) (*SplitRecord, error) {
	if _, err := os.Stat(filepath.Join(dir, SplitFile)); errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	var rec SplitRecord
	if err := ReadJSON(dir, SplitFile, &rec); err != nil {
		return nil, err
	}
	return &rec, nil
}

// pick returns the samples of ds that a split lists, in ds's order, then
// those that ds no longer holds (deleted, or not files any more) as
// dataset.Gone samples: bad files, as an unreadable file is. Only a split
// none of whose samples are left is an error (the data moved). Their
// digests are computed anew when their features are read: a file
// changed since the run is a cache miss, never stale features.
func pick(ds *dataset.Dataset, list []SplitSample, dir string) (*dataset.Dataset, error) {
	// A CSV may list a file twice: both rows share an ID, and a side.
	want := make(map[string]bool, len(list))
	for _, s := range list {
		want[s.ID] = true
	}
	var idx []int
	found := map[string]bool{}
	for i, s := range ds.Samples {
		if want[s.ID] {
			idx = append(idx, i)
			found[s.ID] = true
		}
	}
	if len(found) == 0 && len(want) > 0 {
		return nil, fmt.Errorf("%w: %s lists %d samples, none of which %s holds (e.g. %s): was the data moved since the run?", ErrRunDir, filepath.Join(dir, SplitFile), len(want), ds.Source, list[0].ID)
	}
	out := ds.Pick(idx)
	for _, s := range list {
		if !found[s.ID] {
			found[s.ID] = true
			out.Samples = append(out.Samples, dataset.Gone(s.ID))
		}
	}
	return out, nil
}

// DigestOf parses a recorded digest (zero when absent or malformed).
func DigestOf(h string) (d [32]byte) {
	b, err := hex.DecodeString(h)
	if err == nil && len(b) == len(d) {
		copy(d[:], b)
	}
	return d
}
