package dataset

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"

	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/util/tfrecord"
)

// labelInfo gathers what the records say about one int64 label.
type labelInfo struct {
	text  string // "" until a record names it
	where string // first record with the label, for errors
}

// openTFRecords reads tf.train.Example records from files (checking every
// record's checksums). Classes are the distinct labels in numeric order,
// named by image/class/text where the records carry it, else by the
// number; with an imposed class map, a record's class is looked up by that
// name.
func openTFRecords(source string, files []string, opts Options) (*Dataset, error) {
	ds := &Dataset{Source: source, Kind: KindTFRecord}
	labels := map[int64]*labelInfo{}
	var raw []int64 // per sample, its int64 label
	for _, file := range files {
		if err := scanRecords(file, opts.confined, func(rec int, off int64, data []byte) error {
			id := file + "#" + strconv.Itoa(rec)
			ex, err := DecodeExample(data)
			if err != nil {
				return fmt.Errorf("dataset: %s: %w", id, err)
			}
			if _, err := exampleImage(ex); err != nil {
				return fmt.Errorf("dataset: %s: %w", id, err)
			}
			label, text, err := exampleLabel(ex)
			if err != nil {
				return fmt.Errorf("dataset: %s: %w", id, err)
			}
			info := labels[label]
			if info == nil {
				info = &labelInfo{where: id}
				labels[label] = info
			}
			if text != "" {
				if info.text != "" && info.text != text {
					return fmt.Errorf("%w: %s: label %d is named %q here but %q before: each label needs one %s", ErrFormat, id, label, text, info.text, FeatureText)
				}
				info.text = text
			}
			ds.Samples = append(ds.Samples, Sample{ID: id, Path: file, Record: rec, offset: off})
			raw = append(raw, label)
			return nil
		}); err != nil {
			return nil, err
		}
	}
	nums := make([]int64, 0, len(labels))
	for l := range labels {
		nums = append(nums, l)
	}
	slices.Sort(nums)
	name := func(l int64) string {
		if t := labels[l].text; t != "" {
			return t
		}
		return strconv.FormatInt(l, 10)
	}
	cm := newClassMap(opts)
	index := make(map[int64]int, len(nums))
	owner := map[string]int64{}
	for _, l := range nums {
		n := name(l)
		if prev, dup := owner[n]; dup {
			return nil, fmt.Errorf("%w: %s: labels %d and %d are both class %q (see %s and %s)", ErrFormat, source, prev, l, n, labels[prev].where, labels[l].where)
		}
		owner[n] = l
		i, err := cm.lookup(n, labels[l].where)
		if err != nil {
			return nil, err
		}
		index[l] = i
	}
	for i := range ds.Samples {
		ds.Samples[i].Label = index[raw[i]]
	}
	// Collected names were added in numeric label order: keep that order.
	ds.Classes = cm.names
	return ds, nil
}

// scanRecords calls fn for each record of file with its number and byte
// offset.
func scanRecords(file string, roots *confine.Roots, fn func(rec int, off int64, data []byte) error) error {
	if st, err := os.Stat(file); err == nil && st.IsDir() {
		return fmt.Errorf("%w: %s is a directory, not a TFRecord file", ErrSource, file)
	}
	f, err := roots.Open(file)
	if err != nil {
		return openError(file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return openError(file, err)
	}
	if st.IsDir() {
		return fmt.Errorf("%w: %s is a directory, not a TFRecord file", ErrSource, file)
	}
	r := tfrecord.NewReader(f, st.Size())
	var off int64
	for rec := 0; ; rec++ {
		data, err := r.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return corruptRecords(file, err)
		}
		if err := fn(rec, off, data); err != nil {
			return err
		}
		off += 12 + int64(len(data)) + 4
	}
}

// recordAt reads the record at byte off of f, a TFRecord file scanRecords
// has read before.
func recordAt(f *os.File, file string, off int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, openError(file, err)
	}
	rec, err := tfrecord.NewReader(io.NewSectionReader(f, off, st.Size()-off), st.Size()-off).Next()
	if err == io.EOF {
		err = fmt.Errorf("%w: the record is gone (was the file changed since it was opened?)", tfrecord.ErrCorrupt)
	}
	if err != nil {
		return nil, corruptRecords(file, err)
	}
	return rec, nil
}

// corruptRecords is a damaged TFRecord file's error: malformed data (the
// job's data field), naming the file; err names the record and offset.
func corruptRecords(file string, err error) error {
	return fmt.Errorf("%w: %s: %w: write the file again, or leave it out of the data", ErrFormat, file, err)
}
