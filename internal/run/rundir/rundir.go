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
	"github.com/graft-ml/graft/internal/base/hint"
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
	// OwnerFile stamps a run directory the daemon made with the job and
	// store it belongs to (Owner); graft train's own runs have none.
	OwnerFile = "owner.json"
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
func WriteJSON(dir, name string, v any) error { return writeJSON(dir, name, 0o644, v) }

func writeJSON(dir, name string, perm os.FileMode, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name), perm, func(w io.Writer) error {
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

// PrepareNew creates an empty run directory (or accepts an empty one, or
// one holding only its OwnerFile).
func PrepareNew(dir string) error {
	entries, err := os.ReadDir(dir)
	if len(entries) == 1 && entries[0].Name() == OwnerFile && entries[0].Type().IsRegular() {
		entries = nil
	}
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

// Owner is what OwnerFile holds: the daemon job a run directory was made
// for, and the identity of the daemon's store that made the job. A run
// directory is resumed for a job only when both match, so that a lost or
// replaced store cannot hand an old run to a new job.
type Owner struct {
	Job   string `json:"job"`
	Store string `json:"store"`
}

// WriteOwner stamps dir (created private if missing) with o.
func WriteOwner(dir string, o Owner) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("%w: %v", ErrRunDir, err)
	}
	return writeJSON(dir, OwnerFile, 0o600, o)
}

// ReadOwner reads dir's stamp; a directory without one gives an error
// wrapping os.ErrNotExist.
func ReadOwner(dir string) (Owner, error) {
	var o Owner
	if _, err := os.Lstat(filepath.Join(dir, OwnerFile)); err != nil {
		return o, err
	}
	err := ReadJSON(dir, OwnerFile, &o)
	return o, err
}
