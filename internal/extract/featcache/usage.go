package featcache

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

const (
	usageFile = ".usage"
	lockFile  = ".lock"
	// tmpAge is older than any write of a cache file takes: a temporary
	// file this old was left by a crash.
	tmpAge = time.Hour
)

func lockPath(root string) string { return filepath.Join(root, lockFile) }

// Stats are the counts every process using a cache directory keeps
// together in its .usage file.
type Stats struct {
	Bytes     int64 `json:"bytes"`   // entry files' sizes
	Entries   int64 `json:"entries"` // entry files
	Hits      int64 `json:"hits"`    // lookups that found their entry
	Misses    int64 `json:"misses"`  // lookups that did not
	Evictions int64 `json:"evictions"`
	// TrimAt: a Put past it trims. It is the cap, or past it when leased
	// entries kept the last trim above the cap (TrimmedAt says when).
	TrimAt    int64 `json:"trim_at,omitempty"`
	TrimmedAt int64 `json:"trimmed_at,omitempty"` // Unix seconds
}

// ReadStats reads root's counts as its writers left them (no lock: the
// file is replaced whole); all zero for a cache never written.
func ReadStats(root string) (Stats, error) {
	var s Stats
	raw, err := os.ReadFile(filepath.Join(root, usageFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err == nil {
		err = json.Unmarshal(raw, &s)
	}
	if err != nil {
		return Stats{}, fmt.Errorf("featcache: %s: %w", root, err)
	}
	return s, nil
}

// update changes root's counts under the lock: f changes them, and a
// cache then over maxBytes (> 0) is trimmed to 90% of it (unless the
// last trim could not, for leases, and the cache has not grown by a tenth
// of the cap since; force trims all the same). Counts that cannot be read
// are recounted from the files.
func update(root string, maxBytes int64, force bool, f func(*Stats) error) error {
	unlock, err := lock(root)
	if err != nil {
		return fmt.Errorf("featcache: lock %s: %w", root, err)
	}
	defer unlock()
	s, err := ReadStats(root)
	if _, statErr := os.Stat(filepath.Join(root, usageFile)); err != nil || statErr != nil {
		s = Stats{Hits: s.Hits, Misses: s.Misses, Evictions: s.Evictions}
		if err := s.recount(root); err != nil {
			return err
		}
	}
	if err := f(&s); err != nil {
		return err
	}
	over := maxBytes > 0 && s.Bytes > maxBytes
	if over && (force || s.Bytes > s.TrimAt || time.Since(time.Unix(s.TrimmedAt, 0)) > leaseTTL) {
		if _, _, err := trim(root, &s, maxBytes-maxBytes/10, 0); err != nil {
			return err
		}
		// Leased entries may keep it over the cap: the next trim waits
		// for another tenth of the cap, or for a lease to lapse.
		s.TrimAt, s.TrimmedAt = max(maxBytes, s.Bytes+maxBytes/10), time.Now().Unix()
	}
	raw, _ := json.Marshal(s)
	return replace(filepath.Join(root, usageFile), raw)
}

// count adds the lookups not yet counted to the cache's counts, and what
// change (nil: nothing) adds or removes, which it does under the lock so
// that a trim's recount never sees a file its count misses.
func (n *Namespace) count(change func() (Stats, error), force bool) error {
	h, m := n.hits.Swap(0), n.misses.Swap(0)
	return update(n.root, n.max, force, func(s *Stats) error {
		s.Hits, s.Misses = s.Hits+h, s.Misses+m
		if change == nil {
			return nil
		}
		d, err := change()
		s.Bytes, s.Entries = max(s.Bytes+d.Bytes, 0), max(s.Entries+d.Entries, 0)
		return err
	})
}

// entry is one entry file found under a root.
type entry struct {
	path, ns string
	size     int64
	used     time.Time
}

// scan lists every entry under root, and the temporary files a crash left
// (older than tmpAge).
func scan(root string) (out []entry, stale []string, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == root {
				return err
			}
			return nil // gone meanwhile (evicted, pruned): not counted
		}
		name := d.Name()
		if p == root {
			return nil
		}
		if strings.HasPrefix(name, ".") {
			if strings.Contains(name, ".tmp-") {
				if fi, err := d.Info(); err == nil && time.Since(fi.ModTime()) > tmpAge {
					stale = append(stale, p)
				}
			}
			if d.IsDir() {
				return filepath.SkipDir // .leases
			}
			return nil
		}
		if d.IsDir() || !strings.HasSuffix(name, ".f32") {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		ns, _, _ := strings.Cut(filepath.ToSlash(rel), "/")
		out = append(out, entry{path: p, ns: ns, size: fi.Size(), used: fi.ModTime()})
		return nil
	})
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("featcache: %w", err)
	}
	return out, stale, nil
}

func (s *Stats) recount(root string) error {
	es, _, err := scan(root)
	if err != nil {
		return err
	}
	s.Bytes, s.Entries = 0, 0
	for _, e := range es {
		s.Bytes += e.size
		s.Entries++
	}
	return nil
}

// trim removes, least recently used first and never from a leased
// namespace, the entries unused for olderThan (> 0) and then as many as
// take the cache to target bytes (>= 0; < 0: no target). It recounts s
// from the files and adds what it removed to s.Evictions; temporary files
// a crash left go too. The caller holds the lock.
func trim(root string, s *Stats, target int64, olderThan time.Duration) (removed int, freed int64, err error) {
	es, stale, err := scan(root)
	if err != nil {
		return 0, 0, err
	}
	for _, p := range stale {
		os.RemoveAll(p)
	}
	leased := liveLeases(root, true)
	sort.Slice(es, func(i, j int) bool { return es[i].used.Before(es[j].used) })
	var total int64
	for _, e := range es {
		total += e.size
	}
	s.Bytes, s.Entries = total, int64(len(es))
	for _, e := range es {
		old := olderThan > 0 && time.Since(e.used) > olderThan
		if !old && (target < 0 || s.Bytes <= target) {
			if olderThan <= 0 {
				break
			}
			continue
		}
		if leased[e.ns] {
			continue
		}
		if err := os.Remove(e.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			continue // left for the next trim
		}
		s.Bytes -= e.size
		s.Entries--
		removed++
		freed += e.size
	}
	s.Evictions += int64(removed)
	return removed, freed, nil
}

// Usage counts the entries under root and their bytes, from the files
// (not the shared counts): safe while others use the cache.
func Usage(root string) (bytes, entries int64, err error) {
	var s Stats
	err = s.recount(root)
	return s.Bytes, s.Entries, err
}

// Prune removes, least recently used first and never from a leased
// namespace, the entries unused for olderThan (> 0), then as many as take
// the cache to maxBytes (> 0). Removals count as evictions.
func Prune(root string, olderThan time.Duration, maxBytes int64) (removed int, freed int64, err error) {
	if _, err := os.Stat(root); errors.Is(err, os.ErrNotExist) {
		return 0, 0, nil // no cache yet: nothing to prune
	}
	target := maxBytes
	if target <= 0 {
		target = -1
	}
	err = update(root, 0, false, func(s *Stats) (err error) {
		removed, freed, err = trim(root, s, target, olderThan)
		s.TrimAt, s.TrimmedAt = 0, 0
		return err
	})
	return removed, freed, err
}

// Namespace describes one namespace of a cache (graft cache ls).
type NamespaceInfo struct {
	Name string `json:"name"`
	// Key and Size say what made it (nil for a namespace written before
	// key.json was kept).
	Key      *Key      `json:"key,omitempty"`
	Size     int       `json:"floats,omitempty"`
	Bytes    int64     `json:"bytes"`
	Entries  int64     `json:"entries"`
	LastUsed time.Time `json:"last_used"`
	Leased   bool      `json:"leased"`
}

// List describes the namespaces under root, most recently used first.
func List(root string) ([]NamespaceInfo, error) {
	es, _, err := scan(root)
	if err != nil {
		return nil, err
	}
	leased := liveLeases(root, false)
	by := map[string]*NamespaceInfo{}
	dirs, _ := os.ReadDir(root)
	for _, d := range dirs {
		if d.IsDir() && !strings.HasPrefix(d.Name(), ".") {
			by[d.Name()] = &NamespaceInfo{Name: d.Name(), Leased: leased[d.Name()]}
		}
	}
	for _, e := range es {
		ni := by[e.ns]
		if ni == nil {
			continue
		}
		ni.Bytes += e.size
		ni.Entries++
		if e.used.After(ni.LastUsed) {
			ni.LastUsed = e.used
		}
	}
	out := make([]NamespaceInfo, 0, len(by))
	for _, ni := range by {
		var k keyRecord
		if raw, err := os.ReadFile(filepath.Join(root, ni.Name, keyFile)); err == nil && json.Unmarshal(raw, &k) == nil {
			ni.Key, ni.Size = &k.Key, k.Size
		}
		out = append(out, *ni)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out, nil
}

// DefaultShare is the part of its disk a cache may hold by default.
const DefaultShare = 0.20

// DefaultMaxBytes is the default cap of a cache in dir: DefaultShare of
// the size of the disk holding dir (or its nearest existing parent).
func DefaultMaxBytes(dir string) (int64, error) {
	for d := dir; ; d = filepath.Dir(d) {
		n, err := diskSize(d)
		if err == nil {
			return int64(float64(n) * DefaultShare), nil
		}
		if !errors.Is(err, os.ErrNotExist) || filepath.Dir(d) == d {
			return 0, fmt.Errorf("featcache: the size of %s's disk: %w", dir, err)
		}
	}
}
