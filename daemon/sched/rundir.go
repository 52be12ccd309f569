package sched

import (
	"errors"
	"fmt"
	"os"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/confine"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// prepareRun readies j's run directory for a new (not re-attached)
// attempt and says whether it resumes (resume: it holds a checkpoint). A
// run is j's own when stamped with j's id and this store, or unstamped
// when j ran before (an older daemon made it: it is adopted). Any other
// run directory is moved aside, kept, never resumed, and j starts afresh
// in a new directory stamped as its own. note says what was moved, for
// the attempt's event.
func (d *Joins) prepareRun(j *api.Job, resume bool) (_ bool, note string) {
	if !confine.Within(d.DataDir, j.RunDir) {
		return resume, ""
	}
	own := rundir.Owner{Job: j.ID, Store: d.StoreID}
	o, err := rundir.ReadOwner(j.RunDir)
	_, statErr := os.Lstat(j.RunDir)
	switch {
	case err == nil && o == own, errors.Is(err, os.ErrNotExist) && len(j.Attempts) > 0:
		if resume {
			d.stamp(j, own)
			return true, ""
		}
	case statErr == nil:
		why := "it has no " + rundir.OwnerFile + " and this job never ran"
		if err == nil {
			why = fmt.Sprintf("its %s names job %s of store %s, this is job %s of store %s", rundir.OwnerFile, o.Job, o.Store, own.Job, own.Store)
		} else if !errors.Is(err, os.ErrNotExist) {
			why = err.Error()
		}
		aside := fmt.Sprintf("%s.not-%s-%s", j.RunDir, j.ID, time.Now().UTC().Format("20060102T150405.000000000"))
		if err := os.Rename(j.RunDir, aside); err != nil {
			// Neither resumed nor deleted: the worker refuses the
			// directory that holds a run, and says so.
			d.Log.Error("a run directory that is not this job's cannot be moved aside", zap.String("job", j.ID), zap.String("run_dir", j.RunDir), zap.Error(err))
			return false, ""
		}
		note = fmt.Sprintf("%s held a run that is not this job's (%s): moved to %s, not resumed", j.RunDir, why, aside)
		d.Log.Warn("not resuming a run directory that is not this job's", zap.String("job", j.ID), zap.String("reason", why), zap.String("moved_to", aside))
	}
	// What an attempt left before its first checkpoint is not worth
	// keeping: the worker starts the run afresh.
	os.RemoveAll(j.RunDir)
	d.stamp(j, own)
	return false, note
}

// stamp marks j's run directory as its own. Without the stamp a later
// attempt still adopts the run (j has attempts then), so a failure is
// only logged.
func (d *Joins) stamp(j *api.Job, own rundir.Owner) {
	if err := rundir.WriteOwner(j.RunDir, own); err != nil {
		d.Log.Warn("cannot stamp the run directory", zap.String("job", j.ID), zap.Error(err))
	}
}
