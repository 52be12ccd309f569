package sweep

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// PlanFile is the sweep directory's record of what it tries: the space,
// the base spec and each trial's settings.
const PlanFile = "sweep.json"

// DefaultPatience is each trial's early stopping when the base spec sets
// none: a sweep's poor trials should not run every epoch.
const DefaultPatience = 3

// Plan is a sweep's trials, resolved: trial i's settings Points[i] and
// job Jobs[i], whose run directory is TrialDir(out, i).
type Plan struct {
	Space  Space       `json:"space"`
	Base   api.JobSpec `json:"base"`
	Points []Point     `json:"trials"`
	Jobs   []*job.Job  `json:"-"`
	Where  job.Where   `json:"-"`
}

// TrialDir is trial i's run directory under the sweep directory out.
func TrialDir(out string, i int) string { return filepath.Join(out, "trials", fmt.Sprintf("%03d", i)) }

// NewPlan resolves every trial of space over base (trials: as Points) for
// the sweep directory w.Out, so that a bad value fails before anything
// runs. The points are drawn with base's seed.
func NewPlan(base api.JobSpec, space Space, trials int, w job.Where) (*Plan, error) {
	if w.Out == "" {
		return nil, errors.New("sweep: give --out DIR, the sweep directory (its trials/NNN are run directories)")
	}
	if base.EarlyStopping == nil {
		base.EarlyStopping = api.Ptr(DefaultPatience)
	}
	if err := space.check(); err != nil {
		return nil, err
	}
	var seed uint64
	if base.Seed != nil {
		seed = *base.Seed
	}
	points, err := space.Points(trials, seed)
	if err != nil {
		return nil, err
	}
	p := &Plan{Space: space, Base: base, Points: points, Where: w}
	for i, pt := range points {
		spec, err := Apply(base, pt)
		if err != nil {
			return nil, err
		}
		tw := w
		tw.Out = TrialDir(w.Out, i)
		j, err := job.New(spec, tw)
		if err != nil {
			return nil, fmt.Errorf("sweep: trial %d (%s): %w", i, pt, err)
		}
		p.Jobs = append(p.Jobs, j)
	}
	return p, nil
}

// Create makes the sweep directory (new, or empty) and records the plan.
func (p *Plan) Create() error {
	out := p.Where.Out
	entries, err := os.ReadDir(out)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("sweep: %w", err)
	}
	if len(entries) == 1 && entries[0].Name() == rundir.OwnerFile { // a daemon's job
		entries = nil
	}
	if len(entries) > 0 {
		return hint.With(fmt.Errorf("sweep: %s is not empty", out), "choose another --out")
	}
	if err := os.MkdirAll(filepath.Join(out, "trials"), 0o755); err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	return rundir.WriteJSON(out, PlanFile, p)
}

// remove undoes Create and what followed: everything in the sweep
// directory but a daemon's owner stamp, and the directory when nothing
// else is left.
func (p *Plan) remove() error {
	if err := Clear(p.Where.Out); err != nil {
		return err
	}
	if entries, err := os.ReadDir(p.Where.Out); err == nil && len(entries) == 0 {
		return os.Remove(p.Where.Out)
	}
	return nil
}

// FromSpec is the plan of a job spec with a sweep (the daemon's sweep
// jobs): its space and trials over the rest of the spec.
func FromSpec(spec api.JobSpec, w job.Where) (*Plan, error) {
	if spec.Sweep == nil {
		return nil, errors.New("sweep: the spec has no sweep")
	}
	base := spec
	base.Sweep = nil
	return NewPlan(base, Space(spec.Sweep.Space), spec.Sweep.Trials, w)
}

// Clear empties a sweep directory for another attempt, keeping a
// daemon's owner stamp: a sweep starts again rather than resume.
func Clear(out string) error {
	entries, err := os.ReadDir(out)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() != rundir.OwnerFile {
			if err := os.RemoveAll(filepath.Join(out, e.Name())); err != nil {
				return fmt.Errorf("sweep: %w", err)
			}
		}
	}
	return nil
}
