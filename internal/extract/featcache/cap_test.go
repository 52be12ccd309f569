package featcache

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// entryBytes is one entry file of size floats, as the format lays it out.
func entryBytes(size int) int64 { return int64(headerSize + 4*size) }

// onDisk walks root as a person would: the .f32 files and their bytes.
func onDisk(t *testing.T, root string) (bytes int64, files map[string]bool) {
	t.Helper()
	files = map[string]bool{}
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".f32") {
			fi, _ := d.Info()
			bytes += fi.Size()
			files[p] = true
		}
		return nil
	})
	return bytes, files
}

// age sets an entry's recency back by d.
func age(t *testing.T, p string, d time.Duration) {
	t.Helper()
	then := time.Now().Add(-d)
	if err := os.Chtimes(p, then, then); err != nil {
		t.Fatal(err)
	}
}

func feats(size int, v float32) []float32 {
	f := make([]float32, size)
	for i := range f {
		f[i] = v
	}
	return f
}

// Ten entries written an hour apart, the third read since: a cap of
// eight entries, reached by a new Put, evicts the oldest first (down to
// 90%: seven) and keeps the one the read made recent.
func TestLeastRecentlyUsedGoFirst(t *testing.T) {
	const size = 100
	root, one := t.TempDir(), entryBytes(size)
	ns, err := Open(root, testKey, size, 8*one)
	if err != nil {
		t.Fatal(err)
	}
	for e := 0; e < 8; e++ {
		if err := ns.Put(sample(e), feats(size, float32(e))); err != nil {
			t.Fatal(err)
		}
		age(t, ns.path(sample(e)), time.Duration(20-e)*time.Hour)
	}
	dst := make([]float32, size)
	if ok, err := ns.Get(sample(2), dst); !ok || err != nil || dst[0] != 2 {
		t.Fatalf("get: %v %v", ok, err)
	}
	if err := ns.Put(sample(8), feats(size, 8)); err != nil {
		t.Fatal(err)
	}
	bytes, files := onDisk(t, root)
	want := []int{2, 4, 5, 6, 7, 8} // 0, 1 and 3 are the oldest; 2 was read
	// 9 entries > 8: trimmed to at most 90% of 8 entries' bytes, i.e. 7.
	if len(files) != 7 {
		t.Errorf("%d entries left, want 7", len(files))
	}
	for _, e := range want {
		if !files[ns.path(sample(e))] {
			t.Errorf("entry %d evicted; the files left: %d", e, len(files))
		}
	}
	for _, e := range []int{0, 1} {
		if files[ns.path(sample(e))] {
			t.Errorf("entry %d (among the oldest) kept", e)
		}
	}
	if bytes > 8*one-8*one/10 {
		t.Errorf("%d bytes on disk after a trim, more than 90%% of the cap %d", bytes, 8*one)
	}
	s, _ := ReadStats(root)
	if s.Bytes != bytes || s.Entries != int64(len(files)) || s.Hits != 1 || s.Evictions != int64(9-len(files)) {
		t.Errorf("counts %+v; on disk %d bytes in %d files, 1 hit, %d evicted", s, bytes, len(files), 9-len(files))
	}
}

// Two namespaces filled far past the cap: after every Put the files on
// disk hold at most the cap (this process is the only writer, so nothing
// is in flight), and the counts agree with the files.
func TestCapHoldsAcrossNamespaces(t *testing.T) {
	const size = 250
	root, one := t.TempDir(), entryBytes(size)
	limit := 10*one + one/2
	a, _ := Open(root, testKey, size, limit)
	b, _ := Open(root, Key{Backbone: "shared", Tap: "other", Preprocess: "unit", Input: []int{8, 8, 1}}, size, limit)
	for e := 0; e < 60; e++ {
		ns := a
		if e%2 == 1 {
			ns = b
		}
		if err := ns.Put(sample(e), feats(size, 1)); err != nil {
			t.Fatal(err)
		}
		if bytes, _ := onDisk(t, root); bytes > limit {
			t.Fatalf("after put %d: %d bytes on disk, cap %d", e, bytes, limit)
		}
	}
	bytes, files := onDisk(t, root)
	s, _ := ReadStats(root)
	if s.Bytes != bytes || s.Entries != int64(len(files)) || s.Evictions != int64(60-len(files)) {
		t.Errorf("counts %+v; on disk %d bytes in %d files", s, bytes, len(files))
	}
	if u, n, err := Usage(root); err != nil || u != bytes || n != int64(len(files)) {
		t.Errorf("Usage: %d %d %v; on disk %d in %d", u, n, err, bytes, len(files))
	}
}

// A leased namespace keeps every entry however far past the cap it
// holds the cache, the others' entries go; its release trims it to the cap.
func TestLeasedNamespaceIsNotEvicted(t *testing.T) {
	const size = 100
	root, one := t.TempDir(), entryBytes(size)
	limit := 4 * one
	held, _ := Open(root, testKey, size, limit)
	other, _ := Open(root, Key{Backbone: "b", Tap: "t", Preprocess: "unit", Input: []int{1}}, size, limit)
	l, err := held.Lease()
	if err != nil {
		t.Fatal(err)
	}
	for e := 0; e < 3; e++ {
		other.Put(sample(100+e), feats(size, 1))
		age(t, other.path(sample(100+e)), time.Minute) // more recent than the leased ones
	}
	for e := 0; e < 8; e++ {
		held.Put(sample(e), feats(size, 1))
		age(t, held.path(sample(e)), 2*time.Hour)
	}
	_, files := onDisk(t, root)
	for e := 0; e < 8; e++ {
		if !files[held.path(sample(e))] {
			t.Fatalf("leased entry %d evicted", e)
		}
	}
	for e := 0; e < 3; e++ {
		if files[other.path(sample(100+e))] {
			t.Errorf("unleased entry %d kept while the cache is over its cap", e)
		}
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	if bytes, _ := onDisk(t, root); bytes > limit {
		t.Errorf("after the release: %d bytes on disk, cap %d", bytes, limit)
	}
	if leases, _ := os.ReadDir(filepath.Join(root, leaseDir)); len(leases) != 0 {
		t.Errorf("lease files left after the release: %d", len(leases))
	}
}

// A lease file of a process that exited, and one past its expiry, hold
// nothing: their namespaces are evicted and the files removed. One of a
// live process on another host holds until it expires.
func TestDeadAndExpiredLeasesAreIgnored(t *testing.T) {
	const size = 10
	root := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no `true` to take a dead pid from:", err)
	}
	dead := cmd.Process.Pid // exited and reaped: no process has it, short of reuse
	if alive(dead) {
		t.Skip("the pid was reused at once")
	}
	cases := []struct {
		name string
		rec  leaseRecord
		live bool
	}{
		{"dead", leaseRecord{Host: hostname(), PID: dead, Expires: time.Now().Add(time.Hour)}, false},
		{"expired", leaseRecord{Host: hostname(), PID: os.Getpid(), Expires: time.Now().Add(-time.Second)}, false},
		{"elsewhere", leaseRecord{Host: hostname() + "-other", PID: dead, Expires: time.Now().Add(time.Hour)}, true},
		{"live", leaseRecord{Host: hostname(), PID: os.Getppid(), Expires: time.Now().Add(time.Hour)}, true},
	}
	os.MkdirAll(filepath.Join(root, leaseDir), 0o755)
	var nss []*Namespace
	for i, c := range cases {
		ns, _ := Open(root, Key{Backbone: c.name, Tap: "t", Preprocess: "unit", Input: []int{1}}, size, 0)
		ns.Put(sample(i), feats(size, 1))
		nss = append(nss, ns)
		c.rec.Namespace = ns.name
		raw, _ := json.Marshal(c.rec)
		os.WriteFile(filepath.Join(root, leaseDir, c.name+".json"), raw, 0o644)
	}
	if _, _, err := Prune(root, 0, 1); err != nil { // evict all it may
		t.Fatal(err)
	}
	_, files := onDisk(t, root)
	for i, c := range cases {
		if kept := files[nss[i].path(sample(i))]; kept != c.live {
			t.Errorf("%s lease: entry kept %v, want %v", c.name, kept, c.live)
		}
		if _, err := os.Stat(filepath.Join(root, leaseDir, c.name+".json")); (err == nil) != c.live {
			t.Errorf("%s lease: file kept %v, want %v", c.name, err == nil, c.live)
		}
	}
}

// Prune --older-than removes what was not used for that long, whatever
// the bytes; a temporary file an hour old goes too, a fresh one stays.
func TestPruneOlderThan(t *testing.T) {
	const size = 10
	root := t.TempDir()
	ns, _ := Open(root, testKey, size, 0)
	for e := 0; e < 4; e++ {
		ns.Put(sample(e), feats(size, 1))
	}
	age(t, ns.path(sample(0)), 48*time.Hour)
	age(t, ns.path(sample(1)), 25*time.Hour)
	stale, fresh := filepath.Join(ns.Dir(), ".tmp-stale"), filepath.Join(ns.Dir(), ".tmp-fresh")
	os.WriteFile(stale, []byte("x"), 0o644)
	os.WriteFile(fresh, []byte("x"), 0o644)
	age(t, stale, 2*time.Hour)
	removed, freed, err := Prune(root, 24*time.Hour, 0)
	if err != nil || removed != 2 || freed != 2*entryBytes(size) {
		t.Fatalf("prune: %d %d %v", removed, freed, err)
	}
	_, files := onDisk(t, root)
	if len(files) != 2 || !files[ns.path(sample(2))] || !files[ns.path(sample(3))] {
		t.Errorf("left: %v", files)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("an hour-old temporary file kept")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a fresh temporary file (a write in progress) removed")
	}
	list, err := List(root)
	if err != nil || len(list) != 1 || list[0].Entries != 2 || list[0].Key == nil || list[0].Key.Tap != "t" || list[0].Size != size {
		t.Errorf("list: %+v %v", list, err)
	}
}

// Two processes write different entries into one capped cache at once:
// afterwards the files hold at most the cap and the shared counts agree
// with them.
func TestTwoProcessesUnderOneCap(t *testing.T) {
	const size, per = 500, 40
	one := entryBytes(size)
	limit := 15 * one
	if w := os.Getenv("GRAFT_FEATCACHE_CAPPED"); w != "" {
		id, _ := strconv.Atoi(w)
		ns, _ := Open(os.Getenv("GRAFT_FEATCACHE_ROOT"), testKey, size, limit)
		for e := 0; e < per; e++ {
			if err := ns.Put(sample(id*1000+e), feats(size, float32(id))); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	root := t.TempDir()
	procs := startWriters(t, "TestTwoProcessesUnderOneCap", "GRAFT_FEATCACHE_CAPPED", root)
	for _, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	bytes, files := onDisk(t, root)
	s, _ := ReadStats(root)
	if bytes > limit || s.Bytes != bytes || s.Entries != int64(len(files)) || s.Evictions != int64(2*per-len(files)) {
		t.Errorf("cap %d; on disk %d bytes in %d files; counts %+v", limit, bytes, len(files), s)
	}
}

// Lookups are counted in the shared counts by Flush, without a Put.
func TestFlushCountsLookups(t *testing.T) {
	root := t.TempDir()
	ns, _ := Open(root, testKey, 4, 0)
	ns.Put(sample(0), feats(4, 1))
	dst := make([]float32, 4)
	ns.Get(sample(0), dst)
	ns.Get(sample(0), dst)
	ns.Get(sample(1), dst)
	ns.Read(sample(0), dst) // a streamed read: not a lookup
	if err := ns.Flush(); err != nil {
		t.Fatal(err)
	}
	if s, _ := ReadStats(root); s.Hits != 2 || s.Misses != 1 || s.Entries != 1 {
		t.Errorf("counts %+v, want 2 hits, 1 miss, 1 entry", s)
	}
}
