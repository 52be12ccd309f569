package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/internal/confine"
	"github.com/graft-ml/graft/internal/rundir"
)

// What the data directory holds beside the store: a lost, replaced or
// restored graft.db must not hand old runs, logs or exports to new jobs.

// jobSeq is the number of a daemon job id (job-000042: 42).
func jobSeq(id string) (uint64, bool) {
	digits, ok := strings.CutPrefix(id, "job-")
	if !ok || digits == "" {
		return 0, false
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// onDisk lists the job ids with a run directory or a log, and the highest
// version of each model under exports/.
func (s *Server) onDisk() (jobs []string, versions map[string]uint64) {
	seen := map[string]bool{}
	for _, d := range []struct{ dir, suffix string }{{"runs", ""}, {"logs", ".log"}} {
		entries, _ := os.ReadDir(filepath.Join(s.dataDir, d.dir))
		for _, e := range entries {
			id, ok := strings.CutSuffix(e.Name(), d.suffix)
			if _, isJob := jobSeq(id); ok && isJob && !seen[id] {
				seen[id] = true
				jobs = append(jobs, id)
			}
		}
	}
	versions = map[string]uint64{}
	names, _ := os.ReadDir(filepath.Join(s.dataDir, "exports"))
	for _, n := range names {
		vs, _ := os.ReadDir(filepath.Join(s.dataDir, "exports", n.Name()))
		for _, v := range vs {
			if k, err := strconv.ParseUint(v.Name(), 10, 64); err == nil && k > versions[n.Name()] {
				versions[n.Name()] = k
			}
		}
	}
	return jobs, versions
}

// reconcile moves the store's job and version counters past what the data
// directory holds, and warns, naming them, about run directories and logs
// of jobs the store does not know: they are kept, and never reused.
func (s *Server) reconcile() error {
	jobs, versions := s.onDisk()
	ms, err := s.store.Models()
	if err != nil {
		return err
	}
	served := map[string]bool{} // a deleted job's run that its model versions keep
	for _, m := range ms {
		served[m.JobID] = true
	}
	var last uint64
	var unknown []string
	for _, id := range jobs {
		n, _ := jobSeq(id)
		last = max(last, n)
		if _, err := s.store.Job(id); errors.Is(err, store.ErrNotFound) {
			if !served[id] {
				unknown = append(unknown, id)
			}
		} else if err != nil {
			return err
		}
	}
	if err := s.store.Reserve(last, versions); err != nil {
		return fmt.Errorf("daemon: %s: %w", s.dbPath(), err)
	}
	if len(unknown) > 0 {
		shown := unknown[:min(len(unknown), 20)]
		s.log.Warn("the store does not know the jobs of these run directories or logs: its graft.db was lost, replaced or restored from an older copy. They are kept and not reused (new jobs get ids past them); move them away once you no longer need them",
			zap.String("store", s.dbPath()), zap.String("runs", filepath.Join(s.dataDir, "runs")), zap.Int("count", len(unknown)), zap.Strings("jobs", shown))
	}
	return nil
}

// prepareRun readies j's run directory for a new (not re-attached)
// attempt and says whether it resumes (resume: it holds a checkpoint). A
// run is j's own when stamped with j's id and this store, or unstamped
// when j ran before (an older daemon made it: it is adopted). Any other
// run directory is moved aside, kept, never resumed, and j starts afresh
// in a new directory stamped as its own. note says what was moved, for
// the attempt's event.
func (d *joins) prepareRun(j *api.Job, resume bool) (_ bool, note string) {
	if !confine.Within(d.dataDir, j.RunDir) {
		return resume, ""
	}
	own := rundir.Owner{Job: j.ID, Store: d.storeID}
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
			d.log.Error("a run directory that is not this job's cannot be moved aside", zap.String("job", j.ID), zap.String("run_dir", j.RunDir), zap.Error(err))
			return false, ""
		}
		note = fmt.Sprintf("%s held a run that is not this job's (%s): moved to %s, not resumed", j.RunDir, why, aside)
		d.log.Warn("not resuming a run directory that is not this job's", zap.String("job", j.ID), zap.String("reason", why), zap.String("moved_to", aside))
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
func (d *joins) stamp(j *api.Job, own rundir.Owner) {
	if err := rundir.WriteOwner(j.RunDir, own); err != nil {
		d.log.Warn("cannot stamp the run directory", zap.String("job", j.ID), zap.Error(err))
	}
}
