package dataset

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

var (
	pathHeaders  = []string{"path", "file", "filename", "filepath", "file_path", "image", "image_path", "img"}
	labelHeaders = []string{"label", "class", "class_name", "category", "target", "y"}
)

// openCSV reads a manifest of path,label rows. A first row whose path
// column is a header name, or neither an existing file nor an image name,
// is a header; with a header, the path and label columns are found by
// name (else the first two columns). Relative paths are resolved against
// the CSV's directory.
func openCSV(path string, opts Options) (*Dataset, error) {
	f, err := opts.confined.Open(path)
	if err != nil {
		return nil, openError(path, err)
	}
	defer f.Close()
	br := bufio.NewReader(f)
	if bom, _ := br.Peek(3); string(bom) == "\xef\xbb\xbf" {
		br.Discard(3) //nolint:errcheck // peeked bytes are buffered
	}
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	base := filepath.Dir(path)
	ds := &Dataset{Source: path, Kind: KindCSV}
	cm := newClassMap(opts)
	pathCol, labelCol := 0, 1
	first := true
	for {
		row, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				return nil, fmt.Errorf("%w: %s line %d: %v: fields with commas or quotes must be quoted (\"a,b\", \"say \"\"hi\"\"\")", ErrFormat, path, pe.Line, pe.Err)
			}
			return nil, fmt.Errorf("dataset: read %s: %w", path, err)
		}
		line, _ := r.FieldPos(0)
		for i := range row {
			row[i] = strings.TrimSpace(row[i])
		}
		if first {
			first = false
			if pc, lc, ok := csvHeader(row, base); ok {
				pathCol, labelCol = pc, lc
				continue
			}
		}
		if len(row) == 1 && row[0] == "" {
			continue
		}
		if len(row) <= max(pathCol, labelCol) {
			return nil, fmt.Errorf("%w: %s line %d: %d field(s), want path,label", ErrFormat, path, line, len(row))
		}
		p, label := row[pathCol], row[labelCol]
		if p == "" {
			return nil, fmt.Errorf("%w: %s line %d: empty path", ErrFormat, path, line)
		}
		if label == "" {
			return nil, fmt.Errorf("%w: %s line %d: empty label for %s", ErrFormat, path, line, p)
		}
		idx, err := cm.lookup(label, fmt.Sprintf("%s line %d", path, line))
		if err != nil {
			return nil, err
		}
		if !filepath.IsAbs(p) {
			p = filepath.Join(base, p)
		}
		// A missing file is not an error here: decoding reports it as a
		// bad file, under the skip|fail policy.
		ds.Samples = append(ds.Samples, Sample{ID: p, Label: idx, Path: p, Record: -1})
	}
	ds.Classes = cm.finish(ds.Samples, labelOrder(cm.names))
	return ds, nil
}

// csvHeader decides whether row is a header and, if so, which columns hold
// the path and the label.
func csvHeader(row []string, base string) (pathCol, labelCol int, ok bool) {
	pathCol, labelCol = 0, 1
	named := false
	for i, f := range row {
		f = strings.ToLower(f)
		if containsStr(pathHeaders, f) && (!named || i < pathCol) {
			pathCol, named = i, true
		}
	}
	labelNamed := false
	for i, f := range row {
		if containsStr(labelHeaders, strings.ToLower(f)) && !labelNamed {
			labelCol, labelNamed = i, true
		}
	}
	p := row[0]
	if !filepath.IsAbs(p) {
		p = filepath.Join(base, p)
	}
	if _, err := os.Stat(p); err == nil {
		return 0, 1, false // the first field is a file: data
	}
	if named || labelNamed || !isImageName(row[0]) {
		return pathCol, labelCol, true
	}
	return 0, 1, false
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// labelOrder sorts labels numerically when all are integers ("2" before
// "10"), lexically otherwise.
func labelOrder(names []string) func(a, b string) int {
	for _, n := range names {
		if _, err := strconv.ParseInt(n, 10, 64); err != nil {
			return strings.Compare
		}
	}
	return func(a, b string) int {
		x, _ := strconv.ParseInt(a, 10, 64)
		y, _ := strconv.ParseInt(b, 10, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return strings.Compare(a, b)
	}
}
