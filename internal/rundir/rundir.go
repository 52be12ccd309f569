package rundir

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/hint"
	"github.com/graft-ml/graft/internal/util/atomicfile"
)

// Files of a run directory.
const (
	ConfigFile  = "config.json"
	ClassesFile = "classes.json"
	MetricsFile = "metrics.jsonl"
	SummaryFile = "summary.json"
	HeadFile    = "head.safetensors"
	LastCkpt    = "checkpoints/last.safetensors"
	BestCkpt    = "checkpoints/best.safetensors"
	EventsDir   = "events"
	// The full lists a run's summary and events only count (with a few
	// examples): every bad file, every sample in a group of duplicates.
	BadFilesFile   = "bad_files.jsonl"
	DuplicatesFile = "duplicates.jsonl"
)

// ErrRunDir reports a run directory that cannot be used as asked.
var ErrRunDir = errors.New("run directory")

// Metrics is one line of metrics.jsonl.
type Metrics = api.Metrics

// WriteJSON writes v to dir/name atomically.
func WriteJSON(dir, name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name), 0o644, func(w io.Writer) error {
		_, err := w.Write(append(b, '\n'))
		return err
	})
}

// ReadJSON reads dir/name into v.
func ReadJSON(dir, name string, v any) error {
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrRunDir, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrRunDir, name, err)
	}
	return nil
}

// ReadMetrics returns the epochs recorded in a run's metrics.jsonl.
func ReadMetrics(dir string) ([]Metrics, error) {
	b, err := os.ReadFile(filepath.Join(dir, MetricsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Metrics
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m Metrics
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			break // a line torn by a crash ends the record
		}
		out = append(out, m)
	}
	return out, nil
}

// WriteMetrics rewrites metrics.jsonl atomically with the given epochs:
// each epoch's line lands with its checkpoint, never ahead of it.
func WriteMetrics(dir string, ms []Metrics) error {
	return atomicfile.Write(filepath.Join(dir, MetricsFile), 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		for _, m := range ms {
			if err := enc.Encode(m); err != nil {
				return err
			}
		}
		return nil
	})
}

// PrepareNew creates an empty run directory (or accepts an empty one).
func PrepareNew(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("%w: %v", ErrRunDir, err)
	case len(entries) > 0:
		return hint.With(fmt.Errorf("%w: %s already holds a run", ErrRunDir, dir), "continue it with graft train --resume %s, or choose another --out", dir)
	}
	if err := os.MkdirAll(filepath.Join(dir, "checkpoints"), 0o755); err != nil {
		return fmt.Errorf("%w: %v", ErrRunDir, err)
	}
	return nil
}
