package daemon

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon/store"
	"github.com/graft-ml/graft/internal/base/confine"
)

// Retention: ended jobs go, record, run directory, logs and exports, once
// they have been ended longer than their state's retention
// (Options.RetainFailed, RetainCancelled, RetainSucceeded). A succeeded
// job whose model version is registered is kept whatever its age: its run
// is what the version serves. Nothing is removed without a retention set.

// housekeeping runs at start and then every Options.HousekeepingInterval
// until ctx ends: the retention sweep, then the walk of the data
// directory's parts (usage.go).
func (s *Server) housekeeping(ctx context.Context) {
	t := time.NewTicker(s.opts.HousekeepingInterval)
	defer t.Stop()
	for {
		s.sweep(time.Now())
		s.measure(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// retention is how long an ended job in state st is kept (0: forever).
func (o *Options) retention(st api.State) time.Duration {
	switch st {
	case api.Failed:
		return o.RetainFailed
	case api.Cancelled:
		return o.RetainCancelled
	case api.Succeeded:
		return o.RetainSucceeded
	}
	return 0
}

// expired reports whether j is past its retention at now; registered
// says its version is a registered model's (kept until deleted).
func (s *Server) expired(j *api.Job, registered bool, now time.Time) bool {
	keep := s.opts.retention(j.State)
	if !j.State.Final() || keep <= 0 || now.Sub(j.Updated) < keep {
		return false
	}
	return !(j.State == api.Succeeded && j.Version > 0 && registered)
}

// sweep removes the ended jobs past their retention.
func (s *Server) sweep(now time.Time) {
	if s.opts.RetainFailed <= 0 && s.opts.RetainCancelled <= 0 && s.opts.RetainSucceeded <= 0 {
		return
	}
	due, err := s.store.Select(func(j *api.Job, registered bool) bool { return s.expired(j, registered, now) })
	if err != nil {
		s.log.Error("retention: reading the store", zap.Error(err))
		return
	}
	removed := 0
	for _, j := range due {
		// The same removal as DELETE /v1/jobs/ID: an expired job has no
		// registered version, so its run directory goes with it.
		if _, err := s.deleteJob(j.ID, false, false); err != nil {
			// The record stays, so the next sweep tries again.
			s.log.Warn("retention: cannot remove a job; trying again at the next sweep", zap.String("job", j.ID), zap.Error(err))
			continue
		}
		// Its version's export, when the version went without it (a
		// version deleted by an older graft, an older store restored).
		if j.State == api.Succeeded && j.Version > 0 {
			if _, err := s.store.Model(j.Model, j.Version); errors.Is(err, store.ErrNotFound) {
				if dir, ok := s.exportDir(j.Model, j.Version); ok {
					if err := s.removeExports(dir); err != nil {
						s.log.Warn("retention: cannot remove a deleted version's export", zap.String("export", dir), zap.Error(err))
					}
				}
			}
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("retention: removed ended jobs past their retention", zap.Int("count", removed),
			zap.Duration("failed", s.opts.RetainFailed), zap.Duration("cancelled", s.opts.RetainCancelled), zap.Duration("succeeded", s.opts.RetainSucceeded))
	}
}

// exportDir is the folder of model name's version v in format under
// exports/ (V for a SavedModel, V.FORMAT for the others), and whether the
// name can name one (a name that would lead out is refused at submission,
// never stored).
func (s *Server) exportDir(name string, v int) (string, bool) {
	dir := filepath.Join(s.dataDir, "exports", name, strconv.Itoa(v))
	return dir, filepath.Base(name) == name && name != ".." && confine.Within(filepath.Join(s.dataDir, "exports"), dir)
}
