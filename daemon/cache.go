package daemon

import (
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/extract/featcache"
)

// The feature cache (cache/ under the data directory, internal/extract/featcache):
// its cap, and what the daemon does with it. The daemon itself only
// tidies it at start and reports it; its workers read, fill and trim it,
// each holding a lease on its features while it runs.

// cacheCap resolves Options.CacheMaxBytes for the cache in dir: < 0 is
// the default, 20% of its disk's size now.
func cacheCap(o *Options, dir string) error {
	if o.CacheMaxBytes >= 0 {
		return nil
	}
	n, err := featcache.DefaultMaxBytes(dir)
	if err != nil {
		return fmt.Errorf("daemon: the feature cache's default cap: %w (pass --cache-max-bytes)", err)
	}
	o.CacheMaxBytes = n
	return nil
}

// tidyCache recounts the cache, drops leases whose process is gone or
// that expired, and trims it to its cap (a lowered --cache-max-bytes
// takes effect at once). Leases still held (a Reattacher's workers that
// outlived the last daemon) keep their features.
func (s *Server) tidyCache() {
	removed, freed, err := featcache.Prune(s.cacheDir(), 0, s.opts.CacheMaxBytes)
	if err != nil {
		s.log.Warn("feature cache: cannot tidy it", zap.String("dir", s.cacheDir()), zap.Error(err))
		return
	}
	st, _ := featcache.ReadStats(s.cacheDir()) // Prune recounted them from the files
	s.log.Info("feature cache", zap.String("dir", s.cacheDir()), zap.Int64("max_bytes", s.opts.CacheMaxBytes),
		zap.Int64("bytes", st.Bytes), zap.Int64("entries", st.Entries), zap.Int("evicted", removed), zap.Int64("freed_bytes", freed))
}

// writeCacheMetrics adds the cache's shared counts to /metrics: those of
// every process that uses the directory (this daemon's workers and
// evaluations, and any other process pointed at it).
func (s *Server) writeCacheMetrics(w io.Writer) {
	st, err := featcache.ReadStats(s.cacheDir())
	if err != nil {
		s.log.Warn("feature cache: unreadable counts", zap.Error(err))
	}
	for _, m := range []struct {
		name, typ, help string
		v               int64
	}{
		{"graft_feature_cache_bytes", "gauge", "Bytes of the feature cache's entries.", st.Bytes},
		{"graft_feature_cache_entries", "gauge", "Entries (one sample's features each) in the feature cache.", st.Entries},
		{"graft_feature_cache_max_bytes", "gauge", "The feature cache's cap (--cache-max-bytes; 0: none).", s.opts.CacheMaxBytes},
		{"graft_feature_cache_hits_total", "counter", "Feature lookups the cache answered, by every process using it.", st.Hits},
		{"graft_feature_cache_misses_total", "counter", "Feature lookups the cache did not answer (features computed).", st.Misses},
		{"graft_feature_cache_evictions_total", "counter", "Entries evicted to keep the cache under its cap, or pruned.", st.Evictions},
	} {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n%s %d\n", m.name, m.help, m.name, m.typ, m.name, m.v)
	}
}
