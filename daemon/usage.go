package daemon

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/buildinfo"
)

// What the data directory holds, by part: measured by a walk every
// housekeeping round (Options.HousekeepingInterval), never on a request,
// so /metrics and /v1/status cost nothing however large the cache is.

// diskParts are the parts of the data directory, in the order shown.
var diskParts = []string{"store", "runs", "cache", "logs", "exports"}

type diskUsage struct {
	mu       sync.Mutex
	parts    map[string]int64
	measured time.Time
}

// measure walks the data directory's parts. The feature cache is walked
// like the others (its own byte count is internal/extract/featcache's).
func (s *Server) measure(ctx context.Context) {
	parts := map[string]int64{}
	for _, p := range diskParts {
		dir := filepath.Join(s.dataDir, p)
		if p == "store" {
			if fi, err := os.Stat(s.dbPath()); err == nil {
				parts[p] = fi.Size()
			}
			continue
		}
		parts[p] = dirBytes(ctx, dir)
	}
	if ctx.Err() != nil {
		return // cut short by the daemon stopping: not a measure
	}
	s.usage.mu.Lock()
	s.usage.parts, s.usage.measured = parts, time.Now().UTC()
	s.usage.mu.Unlock()
}

// dirBytes is the size of the regular files under dir (what is gone
// while it walks is skipped).
func dirBytes(ctx context.Context, dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return filepath.SkipAll
		}
		if err != nil {
			return nil
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// diskStatus is the last walk's parts, the largest, and free space now.
func (s *Server) diskStatus() api.DiskUsage {
	s.usage.mu.Lock()
	d := api.DiskUsage{Parts: map[string]int64{}, Measured: s.usage.measured}
	for _, p := range diskParts {
		d.Parts[p] = s.usage.parts[p]
		if d.Largest == "" || d.Parts[p] > d.Parts[d.Largest] {
			d.Largest = p
		}
	}
	s.usage.mu.Unlock()
	d.Free, _ = s.freeDisk()
	d.MinFree = s.opts.MinFreeDisk
	return d
}

// largestPart says which part of the data directory holds the most, for
// the answers that refuse work for lack of disk.
func (s *Server) largestPart() string {
	d := s.diskStatus()
	if d.Measured.IsZero() {
		return ""
	}
	what := map[string]string{
		"store": "the job store (graft admin compact)", "runs": "job run directories (--retain-failed, --retain-cancelled, --retain-succeeded)",
		"cache": "the feature cache", "logs": "worker logs (--max-log-bytes)", "exports": "model exports",
	}
	return fmt.Sprintf("; the largest part of the data directory is %s/ (%s): %d bytes", d.Largest, what[d.Largest], d.Parts[d.Largest])
}

// status answers GET /v1/status.
func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	by, err := s.jobsByState()
	if err != nil {
		writeError(w, http.StatusInternalServerError, err)
		return
	}
	bi := buildinfo.Get()
	writeJSON(w, http.StatusOK, api.Status{Version: bi.Version, Commit: bi.Commit, Started: s.started,
		UptimeSeconds: time.Since(s.started).Seconds(), Jobs: by, Disk: s.diskStatus()})
}

// jobsByState counts the store's jobs in every state.
func (s *Server) jobsByState() (map[api.State]int, error) {
	jobs, err := s.store.Jobs()
	if err != nil {
		return nil, err
	}
	by := map[api.State]int{}
	for _, st := range api.States {
		by[st] = 0
	}
	for _, j := range jobs {
		by[j.State]++
	}
	return by, nil
}

// writeDiskMetrics renders the disk gauges of /metrics.
func (s *Server) writeDiskMetrics(w io.Writer) {
	d := s.diskStatus()
	fmt.Fprintf(w, "# HELP graft_disk_usage_bytes Bytes the data directory holds by part, as last walked.\n# TYPE graft_disk_usage_bytes gauge\n")
	for _, p := range diskParts {
		fmt.Fprintf(w, "graft_disk_usage_bytes{part=%q} %d\n", p, d.Parts[p])
	}
	fmt.Fprintf(w, "# HELP graft_disk_free_bytes Free space on the data directory's disk (-1: unknown).\n# TYPE graft_disk_free_bytes gauge\ngraft_disk_free_bytes %d\n", d.Free)
	fmt.Fprintf(w, "# HELP graft_disk_min_free_bytes Free space under which the daemon is not ready (--min-free-disk).\n# TYPE graft_disk_min_free_bytes gauge\ngraft_disk_min_free_bytes %d\n", d.MinFree)
}
