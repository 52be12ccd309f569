package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/daemon/store"
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
