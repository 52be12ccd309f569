package daemon

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/run/worker"
)

// cleanLeftovers removes what a daemon or worker killed mid-write left in
// the data directory. graft writes every file or folder there under a
// temporary name beside its final place and renames it; each such name is
// hidden and holds ".tmp-":
//
//	exports/NAME/.V.tmp-*                the export's folder (backbone/savedmodel.Write)
//	exports/NAME/.V.manifest.json.tmp-*  its manifest (internal/util/atomicfile)
//	runs/JOB/**/.FILE.tmp-*              run files and checkpoints (atomicfile, via rundir and head)
//	cache/**/.tmp-*                      feature cache entries (internal/extract/featcache)
//	.graft.db.tmp-compact-*              a compaction of the store (storeadmin.go: removed when the store is opened)
//
// and ray/probe/ holds only the files of a start-up probe of the Ray nodes
// (daemon/raylaunch), finished before the daemon is made.
//
// The feature cache is then tidied (cache.go): leases of workers gone
// dropped, its counts taken again, and trimmed to --cache-max-bytes.
//
// It runs at start, before this daemon builds an export or starts a
// worker. A local worker of the last daemon dies with it (parent-death
// signal; a survivor is killed by recover and had no write worth keeping),
// but a Reattacher's workers (Ray) outlive it and may be writing now: with
// such a launcher only temporaries older than an hour, which no write
// keeps that long, go from runs/ and cache/.
func (s *Server) cleanLeftovers() {
	var minAge time.Duration
	if _, ok := s.launcher.(worker.Reattacher); ok {
		minAge = time.Hour
	}
	removed := 0
	for _, d := range []struct {
		dir    string
		minAge time.Duration
		all    bool
	}{
		{filepath.Join(s.dataDir, "exports"), 0, false},
		{filepath.Join(s.dataDir, "runs"), minAge, false},
		{s.cacheDir(), minAge, false},
		{filepath.Join(s.dataDir, "ray", "probe"), 0, true},
	} {
		filepath.WalkDir(d.dir, func(path string, e fs.DirEntry, err error) error {
			if err != nil || path == d.dir {
				return nil // unreadable or absent: nothing to clean there
			}
			name := e.Name()
			if !d.all && !(strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-")) {
				return nil
			}
			if fi, err := e.Info(); err != nil || time.Since(fi.ModTime()) < d.minAge {
				return nil
			}
			if err := os.RemoveAll(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				s.log.Warn("cannot remove a leftover temporary file", zap.String("path", path), zap.Error(err))
			} else {
				removed++
			}
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		})
	}
	if removed > 0 {
		s.log.Info("removed temporary files a crash left", zap.Int("count", removed))
	}
	s.tidyCache()
}
