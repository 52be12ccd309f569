package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/confine"
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

// expired reports whether j, read in tx, is past its retention at now.
func (s *Server) expired(tx *bolt.Tx, j *api.Job, now time.Time) bool {
	keep := s.opts.retention(j.State)
	if !j.State.Final() || keep <= 0 || now.Sub(j.Updated) < keep {
		return false
	}
	if j.State == api.Succeeded && j.Version > 0 {
		if mb := tx.Bucket(modelsBucket).Bucket([]byte(j.Model)); mb != nil && mb.Get(key(uint64(j.Version))) != nil {
			return false // its version is registered: kept until deleted
		}
	}
	return true
}

// sweep removes the ended jobs past their retention.
func (s *Server) sweep(now time.Time) {
	if s.opts.RetainFailed <= 0 && s.opts.RetainCancelled <= 0 && s.opts.RetainSucceeded <= 0 {
		return
	}
	var due []*api.Job
	err := s.store.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(jobsBucket).ForEach(func(_, v []byte) error {
			j, err := readJob(v)
			if err == nil && s.expired(tx, j, now) {
				due = append(due, j)
			}
			return nil // a record this daemon cannot read is left alone
		})
	})
	if err != nil {
		s.log.Error("retention: reading the store", zap.Error(err))
		return
	}
	removed := 0
	for _, j := range due {
		if err := s.removeJobFiles(j); err != nil {
			// The record stays, so the next sweep tries again.
			s.log.Warn("retention: cannot remove a job's files; trying again at the next sweep", zap.String("job", j.ID), zap.Error(err))
			continue
		}
		if err := s.store.forgetEnded(j.ID, func(tx *bolt.Tx, j *api.Job) bool { return s.expired(tx, j, now) }); err != nil {
			s.log.Error("retention: removing a job's record", zap.String("job", j.ID), zap.Error(err))
			continue
		}
		removed++
	}
	if removed > 0 {
		s.log.Info("retention: removed ended jobs past their retention", zap.Int("count", removed),
			zap.Duration("failed", s.opts.RetainFailed), zap.Duration("cancelled", s.opts.RetainCancelled), zap.Duration("succeeded", s.opts.RetainSucceeded))
	}
}

// removeJobFiles removes what ended job j left in the data directory: its
// run directory, its worker logs, and the export of the model version it
// registered when that version is no longer registered. Paths outside the
// data directory (a record of another layout) are left alone.
// (Issue 23's DELETE /v1/jobs/ID removes the same: one function for both.)
func (s *Server) removeJobFiles(j *api.Job) error {
	paths := []string{s.runDir(j.ID), s.logPath(j.ID), s.logPath(j.ID) + rotatedSuffix}
	if j.RunDir != "" && j.RunDir != s.runDir(j.ID) && confine.Within(s.dataDir, j.RunDir) {
		paths = append(paths, j.RunDir)
	}
	if j.State == api.Succeeded && j.Version > 0 {
		if _, err := s.store.Model(j.Model, j.Version); errors.Is(err, ErrNotFound) {
			paths = append(paths, s.exportPaths(j.Model, j.Version)...)
		}
	}
	var errs []error
	for _, p := range paths {
		if err := os.RemoveAll(p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// exportPaths are the files of model name's version v under exports/:
// its folder and its manifest.
func (s *Server) exportPaths(name string, v int) []string {
	dir := filepath.Join(s.dataDir, "exports", name, strconv.Itoa(v))
	if !confine.Within(filepath.Join(s.dataDir, "exports"), dir) {
		return nil // a name that would lead out (never stored: refused at submission)
	}
	return []string{dir, dir + ".manifest.json"}
}

// forgetEnded removes job id's record and events when still is true of
// it in the same transaction (it may have changed since the sweep read it).
func (st *Store) forgetEnded(id string, still func(tx *bolt.Tx, j *api.Job) bool) error {
	return st.db.Update(func(tx *bolt.Tx) error {
		j, err := getJob(tx, id)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if !still(tx, j) {
			return fmt.Errorf("job %s changed while it was removed (%s)", id, j.State)
		}
		if err := tx.Bucket(jobsBucket).Delete([]byte(id)); err != nil {
			return err
		}
		if err := tx.Bucket(eventsBucket).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		return nil
	})
}
