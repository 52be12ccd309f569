package rundir

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/infer/evaluate"
	"github.com/graft-ml/graft/internal/util/atomicfile"
	"github.com/graft-ml/graft/internal/util/tfevents"
)

// SaveFunc writes a checkpoint: head.Model.Save, or a test's stand-in
// that fails as a full disk would.
type SaveFunc func(m *head.Model, path string, classes []string, trainer json.RawMessage) error

// Writer writes what a training run produces as it goes: after every
// epoch the checkpoints, metrics.jsonl and the TensorBoard events; at the
// end head.safetensors and summary.json. Every file is written atomically,
// so a failed write leaves the earlier ones intact.
type Writer struct {
	dir     string
	classes []string
	save    SaveFunc
	events  *tfevents.Writer
}

// NewWriter opens the TensorBoard events of the run in dir (config.json
// already written: it goes beside the curves) for a head over classes.
// save nil is head.Model.Save.
func NewWriter(dir string, classes []string, save SaveFunc) (*Writer, error) {
	if save == nil {
		save = func(m *head.Model, path string, classes []string, st json.RawMessage) error {
			return m.Save(path, classes, st)
		}
	}
	conf, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, err
	}
	ev, err := tfevents.NewWriter(filepath.Join(dir, EventsDir))
	if err != nil {
		return nil, err
	}
	// The run's settings beside its curves, as TensorBoard users keep
	// them (the text plugin): config.json verbatim, at step 0.
	if err := ev.Text("config", 0, "```json\n"+strings.TrimSpace(string(conf))+"\n```", time.Now()); err != nil {
		ev.Close()
		return nil, err
	}
	return &Writer{dir: dir, classes: classes, save: save, events: ev}, nil
}

// Close closes the events file.
func (w *Writer) Close() { w.events.Close() }

// Epoch records the epoch whose metrics are ms' last: m's checkpoint
// with the trainer state st (LastCkpt, and BestCkpt too when best), then
// every epoch's metrics line and this epoch's scalars, with val, the
// validation scores per class.
func (w *Writer) Epoch(m *head.Model, st json.RawMessage, best bool, ms []Metrics, val []evaluate.Class) error {
	met := ms[len(ms)-1]
	if err := w.save(m, filepath.Join(w.dir, LastCkpt), w.classes, st); err != nil {
		return hint.With(fmt.Errorf("train: checkpoint of epoch %d: %w; epoch %d's checkpoint is intact", met.Epoch, err, met.Epoch-1), "free space and continue with graft train --resume %s", w.dir)
	}
	if best { // the same bytes: linked, not written and synced twice
		if err := atomicfile.Link(filepath.Join(w.dir, LastCkpt), filepath.Join(w.dir, BestCkpt), 0o644); err != nil {
			return hint.With(fmt.Errorf("train: best checkpoint of epoch %d: %w", met.Epoch, err), "free space and continue with graft train --resume %s", w.dir)
		}
	}
	if err := WriteMetrics(w.dir, ms); err != nil {
		return err
	}
	wall := time.Now()
	for tag, v := range map[string]float64{"loss": met.Loss, "accuracy": met.Accuracy, "val_loss": met.ValLoss, "val_accuracy": met.ValAccuracy, "val_top5": met.ValTop5, "lr": met.LR, "seconds": met.Seconds} {
		if err := w.events.Scalar(tag, int64(met.Epoch), v, wall); err != nil {
			return err
		}
	}
	// Per class, as TensorBoard groups tags by their prefix.
	for _, c := range val {
		for tag, v := range map[string]float64{"val_precision/" + c.Name: c.Precision, "val_recall/" + c.Name: c.Recall} {
			if err := w.events.Scalar(tag, int64(met.Epoch), v, wall); err != nil {
				return err
			}
		}
	}
	return w.events.Flush()
}

// Finish publishes head.safetensors, the inference artefact (the best
// checkpoint's parameters and classes without the optimizer state, which
// stays in checkpoints/ for --resume), then writes summary.json.
func (w *Writer) Finish(s *api.Summary) error {
	m, ck, err := head.Load(head.NewCPUOps(), filepath.Join(w.dir, BestCkpt))
	if err != nil {
		return fmt.Errorf("train: publish %s: %w", HeadFile, err)
	}
	defer m.Close()
	if err := m.SaveWeights(filepath.Join(w.dir, HeadFile), ck.Classes); err != nil {
		return fmt.Errorf("train: publish %s: %w", HeadFile, err)
	}
	return WriteJSON(w.dir, SummaryFile, s)
}
