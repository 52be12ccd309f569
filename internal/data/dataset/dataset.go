package dataset

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/util/crc32c"
)

// Sentinel errors; every error the package returns wraps one of these (or
// an error of internal/util/tfrecord, internal/data/images or the os package) and
// names the file involved.
var (
	// ErrSource: the path is not something graft can read as data.
	ErrSource = errors.New("dataset: unrecognised data source")
	// ErrEmpty: the data holds no usable images.
	ErrEmpty = errors.New("dataset: no images")
	// ErrClasses: fewer classes than training needs (two), or an empty class.
	ErrClasses = errors.New("dataset: not enough classes")
	// ErrLabel: a label that is not in the imposed class map.
	ErrLabel = errors.New("dataset: unknown label")
	// ErrFormat: a malformed CSV row or tf.train.Example record.
	ErrFormat = errors.New("dataset: malformed data")
	// ErrClassName: a class name graft cannot keep as it is (not valid
	// UTF-8); it wraps ErrFormat.
	ErrClassName = fmt.Errorf("%w: unusable class name", ErrFormat)
	// ErrBadFile: an image that cannot be read or decoded (policy fail).
	ErrBadFile = errors.New("dataset: bad image file")
	// ErrArgument: an invalid argument from the caller (size, mode, policy).
	ErrArgument = errors.New("dataset: invalid argument")
	// ErrOutsideRoots: a file lies outside the directories allowed.
	ErrOutsideRoots = errors.New("dataset: file outside the allowed roots")
)

// Source kinds, as reported in Dataset.Kind.
const (
	KindFolder   = "folder"
	KindCSV      = "csv"
	KindTFRecord = "tfrecord"
	// KindSynthetic is generated images (SyntheticPrefix): tests only.
	KindSynthetic = "synthetic"
)

// Options adjusts Open.
type Options struct {
	// Classes imposes a class map (e.g. the training classes for a
	// validation or evaluation set): labels are looked up in it, an unknown
	// label is an error, and classes without samples are allowed. When nil,
	// the classes come from the data (sorted) and at least two are needed.
	Classes []string
	// Roots, when set, confine every file the data set reads (images,
	// TFRecord files, whatever a CSV names) to these directories, after
	// following symlinks: the daemon's --allow-root. They must be absolute
	// and already resolved.
	Roots []string
	// OutsideIsBad keeps a sample whose file lies outside Roots, to fail
	// when it is read (a bad file), instead of failing Open: for data read
	// again after a run recorded it, where a file swapped for a link
	// since is one bad file, not a broken run.
	OutsideIsBad bool

	confined *confine.Roots // Roots, resolved by Open
}

// Sample is one labelled image.
type Sample struct {
	// ID names the sample in reports: the file's path, or file#record for
	// a TFRecord record (record numbers count from 0).
	ID string
	// Label is the index of the sample's class in Dataset.Classes.
	Label int
	// Path is the file holding the image (the TFRecord file for records).
	Path string
	// Record is the record number in a TFRecord file, -1 for image files.
	Record int
	// Digest is the SHA-256 of the encoded image once Hash has read it
	// (zero before, or when the file could not be read): the feature
	// cache's key, and what makes two samples the same image.
	Digest [32]byte
	// View is the augmented view Decode makes of the image (Views): 0 is
	// the image itself.
	View int

	offset int64          // byte offset of the record in Path (TFRecord only)
	roots  *confine.Roots // where Path may be read from
	gone   bool           // see Gone
	synth  *synthetic     // the generator of a synthetic sample (Record is its index)
}

// Gone is the sample id that a run recorded but its data no longer holds
// (the file deleted, or replaced by a folder): it stays in the run's
// split to be reported as a bad file, under no class (Label -1).
func Gone(id string) Sample { return Sample{ID: id, Path: id, Label: -1, Record: -1, gone: true} }

// Encoded reads the sample's encoded image (PNG or JPEG bytes).
func (s Sample) Encoded() ([]byte, error) {
	if s.gone {
		return nil, fmt.Errorf("dataset: %s is no longer among the data's files (deleted, or not a file any more): %w", s.ID, fs.ErrNotExist)
	}
	if s.synth != nil {
		return s.synth.encode(s.Record)
	}
	if s.Record < 0 {
		b, err := s.roots.ReadFile(s.Path, images.MaxFileBytes)
		if err != nil {
			return nil, pathError("read", s.Path, s.Path, err)
		}
		return b, nil
	}
	f, err := s.roots.Open(s.Path)
	if err != nil {
		return nil, pathError("read", s.ID, s.Path, err)
	}
	defer f.Close()
	rec, err := recordAt(f, s.Path, s.offset)
	if err != nil {
		return nil, fmt.Errorf("dataset: read %s: %w", s.ID, err)
	}
	ex, err := DecodeExample(rec)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", s.ID, err)
	}
	img, err := exampleImage(ex)
	if err != nil {
		return nil, fmt.Errorf("dataset: %s: %w", s.ID, err)
	}
	return img, nil
}

// Dataset is a list of labelled images and their class map.
type Dataset struct {
	// Source is the path the data set was opened from.
	Source string
	// Kind is KindFolder, KindCSV or KindTFRecord.
	Kind string
	// Classes are the class names; a sample's Label indexes them.
	Classes []string
	// Samples in a deterministic order (folder: class then path; CSV: row
	// order; TFRecord: file then record order).
	Samples []Sample
	// Ignored lists what an image folder holds besides class images (other
	// files, hidden ones included, images outside class folders, links to
	// folders), so users see what was left out (IgnoredSummary). Hidden
	// folders are skipped silently.
	Ignored []IgnoredFile
	// MaxPixels is the most pixels Decode takes in one image (from its
	// header, before decoding; <= 0: images.DefaultMaxPixels): the
	// caller's --max-image-pixels. A larger image is a bad file.
	MaxPixels int64
	// Augment makes the samples' views (Views); nil: none.
	Augment Augmenter
}

// Augmenter makes view v of an image (augment.Augmenter): Apply changes
// the resized h x w x c image (0..255) in place, EntryKey names the
// view's features in the feature cache.
type Augmenter interface {
	Apply(img []float32, h, w, c int, digest [32]byte, view int)
	EntryKey(digest [32]byte, view int) [32]byte
}

// EntryKey is sample s's key in the feature cache (s hashed): its
// digest, or for a view other than 0 the view's own key.
func (d *Dataset) EntryKey(s Sample) [32]byte {
	if s.View != 0 && d.Augment != nil {
		return d.Augment.EntryKey(s.Digest, s.View)
	}
	return s.Digest
}

// Views returns the data set with each sample k times, views 0 to k-1 of
// it in a row (sample i's view v at i*k+v), made by a.
func (d *Dataset) Views(k int, a Augmenter) *Dataset {
	samples := make([]Sample, 0, k*len(d.Samples))
	for _, s := range d.Samples {
		for v := range k {
			s.View = v
			samples = append(samples, s)
		}
	}
	out := d.with(samples)
	out.Augment = a
	return out
}

// IgnoredFile is a file Open left out, and why.
type IgnoredFile struct {
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// IgnoredSummary says in one line what Open left out, counted by reason
// with a few examples, or "" when nothing was.
func (d *Dataset) IgnoredSummary() string {
	if len(d.Ignored) == 0 {
		return ""
	}
	count := map[string]int{}
	var reasons, examples []string
	for _, f := range d.Ignored {
		if count[f.Reason] == 0 {
			reasons = append(reasons, f.Reason)
		}
		count[f.Reason]++
		if len(examples) < 3 {
			examples = append(examples, f.Path)
		}
	}
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%d %s", count[r], r)
	}
	more := ""
	if len(d.Ignored) > len(examples) {
		more = ", ..."
	}
	files := "files"
	if len(d.Ignored) == 1 {
		files = "file"
	}
	return fmt.Sprintf("skipped %d %s of %s that are no class images (%s): %s%s",
		len(d.Ignored), files, d.Source, strings.Join(parts, ", "), strings.Join(examples, ", "), more)
}

// Len is the number of samples.
func (d *Dataset) Len() int { return len(d.Samples) }

// Slice returns the samples [i, j) as a data set with the same classes; it
// lets large data sets be decoded in parts. Out-of-range bounds are clamped.
func (d *Dataset) Slice(i, j int) *Dataset {
	i = max(0, min(i, len(d.Samples)))
	j = max(i, min(j, len(d.Samples)))
	return d.with(d.Samples[i:j:j])
}

func (d *Dataset) with(samples []Sample) *Dataset {
	return &Dataset{Source: d.Source, Kind: d.Kind, Classes: slices.Clone(d.Classes), Samples: samples, Ignored: d.Ignored, MaxPixels: d.MaxPixels, Augment: d.Augment}
}

// Counts returns the number of samples per class.
func (d *Dataset) Counts() []int {
	n := make([]int, len(d.Classes))
	for _, s := range d.Samples {
		if s.Label >= 0 && s.Label < len(n) {
			n[s.Label]++
		}
	}
	return n
}

// ClassCount is one line of a Balance report.
type ClassCount struct {
	Class string `json:"class"`
	Count int    `json:"count"`
}

// Balance reports how the samples spread over the classes.
type Balance struct {
	Counts []ClassCount `json:"counts"`
	// Ratio is the largest class count over the smallest; 0 when a class
	// has no samples (the warning says so).
	Ratio float64 `json:"ratio"`
	// Warning is set when the largest class is more than ImbalanceRatio
	// times the smallest, or a class is empty; "" otherwise.
	Warning string `json:"warning,omitempty"`
}

// ImbalanceRatio is the largest/smallest class ratio above which Balance
// warns.
const ImbalanceRatio = 3.0

// Balance counts the samples per class and warns about strong imbalance.
func (d *Dataset) Balance() Balance {
	counts := d.Counts()
	var b Balance
	if len(counts) == 0 {
		return b
	}
	lo, hi := 0, 0
	var empty []string
	for i, n := range counts {
		b.Counts = append(b.Counts, ClassCount{Class: d.Classes[i], Count: n})
		if n < counts[lo] {
			lo = i
		}
		if n > counts[hi] {
			hi = i
		}
		if n == 0 {
			empty = append(empty, strconv.Quote(d.Classes[i]))
		}
	}
	switch {
	case len(empty) > 0:
		b.Warning = fmt.Sprintf("%d of %d classes have no samples (%s): the model cannot learn them", len(empty), len(counts), strings.Join(empty, ", "))
	default:
		b.Ratio = float64(counts[hi]) / float64(counts[lo])
		if b.Ratio > ImbalanceRatio {
			b.Warning = fmt.Sprintf("class imbalance: %q has %d samples, %q only %d (%.1fx): consider collecting more of the small classes or weighting them", d.Classes[hi], counts[hi], d.Classes[lo], counts[lo], b.Ratio)
		}
	}
	return b
}

// Open reads the data set at path: a directory is an image folder, a .csv
// file a manifest, and a .tfrecord/.tfrecords/.rec file, a glob or a
// comma-separated list of such files are TFRecord files of tf.train.Example.
func Open(path string, opts Options) (*Dataset, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: empty path: pass an image folder, a .csv manifest or TFRecord files", ErrSource)
	}
	if opts.Classes != nil {
		seen := make(map[string]bool, len(opts.Classes))
		for _, c := range opts.Classes {
			if seen[c] {
				return nil, fmt.Errorf("%w: the imposed class map names %q twice", ErrArgument, c)
			}
			seen[c] = true
		}
	}
	if strings.HasPrefix(path, SyntheticPrefix) {
		return openSynthetic(path, opts)
	}
	var (
		ds  *Dataset
		err error
	)
	if opts.confined, err = confine.New(opts.Roots); err != nil {
		return nil, fmt.Errorf("dataset: %w", err)
	}
	list := strings.Contains(path, ",") || hasGlobMeta(path)
	if !list {
		if err := check(path, opts.confined); err != nil {
			return nil, err
		}
	}
	st, statErr := os.Stat(path)
	ext := strings.ToLower(filepath.Ext(path))
	switch {
	case statErr == nil && st.IsDir():
		ds, err = openFolder(path, opts)
	case statErr == nil && ext == ".csv":
		ds, err = openCSV(path, opts)
	case statErr == nil && isRecordExt(ext):
		ds, err = openTFRecords(path, []string{path}, opts)
	case list:
		var files []string
		files, err = expandRecordPaths(path, opts.confined)
		for _, f := range files {
			if err == nil {
				err = check(f, opts.confined)
			}
		}
		if err == nil {
			ds, err = openTFRecords(path, files, opts)
		}
	case statErr != nil:
		return nil, openError(path, statErr)
	case looksLikeTFRecord(path, opts.confined):
		ds, err = openTFRecords(path, []string{path}, opts)
	default:
		return nil, fmt.Errorf("%w: %s: use an image folder (one sub-folder per class), a .csv manifest (path,label) or TFRecord files (.tfrecord, .tfrecords, .rec, a glob or a comma list)", ErrSource, path)
	}
	if err != nil {
		return nil, err
	}
	if err := ds.validate(opts); err != nil {
		return nil, err
	}
	checked := map[string]bool{}
	for i, smp := range ds.Samples {
		ds.Samples[i].roots = opts.confined
		if opts.confined.Enabled() && !checked[smp.Path] {
			if err := check(smp.Path, opts.confined); err != nil && !(opts.OutsideIsBad && errors.Is(err, ErrOutsideRoots)) {
				return nil, fmt.Errorf("%w (sample %s)", err, smp.ID)
			}
			checked[smp.Path] = true
		}
	}
	return ds, nil
}

// check confines path to roots (see internal/base/confine). A missing file
// passes: reading it later reports it as a bad file, by name. The
// confinement that counts is the one at reading time (Sample.Encoded):
// this one reports a stray link early, with the sample's name.
func check(path string, roots *confine.Roots) error {
	_, err := roots.Resolve(path)
	switch {
	case err == nil || errors.Is(err, os.ErrNotExist):
		return nil
	case errors.Is(err, confine.ErrOutside):
		return fmt.Errorf("%w: %v", ErrOutsideRoots, err)
	}
	return fmt.Errorf("dataset: %w", err)
}

// validate applies the checks every source shares.
func (d *Dataset) validate(opts Options) error {
	if len(d.Samples) == 0 {
		return fmt.Errorf("%w: %s holds no labelled images", ErrEmpty, d.Source)
	}
	if opts.Classes == nil && len(d.Classes) < 2 {
		return fmt.Errorf("%w: %s has only class %q: training needs at least 2 classes", ErrClasses, d.Source, d.Classes[0])
	}
	return nil
}

// classMap assigns labels: imposed (lookup, unknown is an error) or
// collected from the data and sorted at the end.
type classMap struct {
	imposed bool
	index   map[string]int
	names   []string
}

func newClassMap(opts Options) *classMap {
	m := &classMap{index: map[string]int{}}
	if opts.Classes != nil {
		m.imposed = true
		m.names = slices.Clone(opts.Classes)
		for i, c := range opts.Classes {
			m.index[c] = i
		}
	}
	return m
}

// lookup returns the provisional index of name; where names the place
// (file, line or record) for the error.
func (m *classMap) lookup(name, where string) (int, error) {
	if i, ok := m.index[name]; ok {
		return i, nil
	}
	if err := CheckClassName(name, where); err != nil {
		return 0, err
	}
	if m.imposed {
		return 0, fmt.Errorf("%w %q at %s: the class map has %s; is this data set labelled like the training set?", ErrLabel, name, where, quoteList(m.names, 20))
	}
	m.index[name] = len(m.names)
	m.names = append(m.names, name)
	return m.index[name], nil
}

// finish sorts collected class names (with less, or lexically when nil) and
// renumbers the samples' labels; imposed maps are left as they are.
func (m *classMap) finish(samples []Sample, less func(a, b string) int) []string {
	if m.imposed {
		return m.names
	}
	sorted := slices.Clone(m.names)
	if less == nil {
		less = strings.Compare
	}
	slices.SortFunc(sorted, less)
	remap := make([]int, len(m.names))
	for newI, name := range sorted {
		remap[m.index[name]] = newI
	}
	for i := range samples {
		samples[i].Label = remap[samples[i].Label]
	}
	return sorted
}

// CheckClassName refuses a class name that is not valid UTF-8, wherever
// it comes from (a folder, a CSV label, a record's image/class/text):
// class names are kept as text (classes.json, the API, the export), where
// invalid bytes become U+FFFD and two classes would become one name.
// where names the place (file, line or record) for the error.
func CheckClassName(name, where string) error {
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: class %q (%s) is not valid UTF-8: rename it to valid UTF-8 text (graft keeps class names as text, where it would read %q)", ErrClassName, name, where, strings.ToValidUTF8(name, "\uFFFD"))
	}
	return nil
}

func quoteList(names []string, limit int) string {
	if len(names) == 0 {
		return "no classes"
	}
	var b strings.Builder
	b.WriteString("classes ")
	for i, n := range names {
		if i == limit {
			fmt.Fprintf(&b, ", ... (%d in all)", len(names))
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(n))
	}
	return b.String()
}

var imageExts = map[string]bool{".png": true, ".jpg": true, ".jpeg": true}

func isImageName(name string) bool { return imageExts[strings.ToLower(filepath.Ext(name))] }

func isRecordExt(ext string) bool {
	return ext == ".tfrecord" || ext == ".tfrecords" || ext == ".rec"
}

// looksLikeTFRecord sniffs a file without a known extension (shards such
// as train-00000-of-00008): its first record header has a valid checksum.
func looksLikeTFRecord(path string, roots *confine.Roots) bool {
	f, err := roots.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var head [12]byte
	if _, err := io.ReadFull(f, head[:]); err != nil {
		return false
	}
	return crc32c.Mask(crc32c.Checksum(head[:8])) == binary.LittleEndian.Uint32(head[8:])
}

func hasGlobMeta(p string) bool { return strings.ContainsAny(p, "*?[") }

// expandRecordPaths turns a comma list of files and globs into files, in
// the order given (globs sorted). With roots, a file is confined before
// it is looked at, and a glob matches only inside them (confine.Glob), so
// that errors tell nothing of what lies outside.
func expandRecordPaths(spec string, roots *confine.Roots) ([]string, error) {
	var files []string
	seen := map[string]bool{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		var matches []string
		if hasGlobMeta(part) {
			m, err := roots.Glob(part)
			if errors.Is(err, confine.ErrOutside) {
				return nil, fmt.Errorf("%w: %v", ErrOutsideRoots, err)
			}
			if err != nil {
				return nil, fmt.Errorf("%w: pattern %q: %v", ErrSource, part, err)
			}
			if len(m) == 0 {
				return nil, fmt.Errorf("%w: pattern %q matches no files", ErrSource, part)
			}
			sort.Strings(m)
			matches = m
		} else {
			if err := check(part, roots); err != nil {
				return nil, err
			}
			st, err := os.Stat(part)
			if err != nil {
				return nil, openError(part, err)
			}
			if st.IsDir() {
				return nil, fmt.Errorf("%w: %s is a directory; a comma list names TFRecord files", ErrSource, part)
			}
			matches = []string{part}
		}
		for _, m := range matches {
			if !seen[m] {
				seen[m] = true
				files = append(files, m)
			}
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: %q names no files", ErrSource, spec)
	}
	return files, nil
}

// Pick returns the samples at the given indices, in that order, as a data
// set with the same classes.
func (d *Dataset) Pick(indices []int) *Dataset {
	samples := make([]Sample, len(indices))
	for i, j := range indices {
		samples[i] = d.Samples[j]
	}
	return d.with(samples)
}
