package daemon_test

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
)

// cacheFiles walks a cache as a person would: the .f32 entry files, their
// bytes, and the lease files.
func cacheFiles(t *testing.T, dir string) (bytes int64, entries int, leases int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return nil
		}
		switch {
		case strings.HasSuffix(p, ".f32"):
			fi, _ := d.Info()
			bytes += fi.Size()
			entries++
		case filepath.Base(filepath.Dir(p)) == ".leases":
			leases++
		}
		return nil
	})
	return bytes, entries, leases
}

// Two jobs at once on different taps stream their features from the
// cache (a memory budget far below them) while the cap is below either
// job's features (100 images: 12560 bytes each at conv2d_2, 7x7x64
// floats, and 25104 at conv2d_1, 14x14x32: 3.8 MB together, cap 1 MB).
// Each job's lease keeps its features while it trains, so both succeed;
// once they end, the cache on disk is under the cap, and /metrics agrees
// with the files.
func TestCacheCapTwoTapsStreamed(t *testing.T) {
	f := newFixture(t, 10)
	const limit = 1_000_000
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxConcurrent: 2, CacheMaxBytes: limit})
	var ids []string
	for _, tap := range []string{"conv2d_2", "conv2d_1"} {
		req := f.spec(2)
		req.Tap, req.MemoryBudget = tap, api.Ptr[int64](64<<10)
		j, err := s.Submit(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, j.ID)
	}
	computed := 0
	for _, id := range ids {
		j := waitFinal(t, s.Client, id)
		if j.State != api.Succeeded {
			t.Fatalf("job %s %s: %s", id, j.State, j.Error)
		}
		computed += j.Summary.CacheComputed
	}
	dir := filepath.Join(s.dir, "cache")
	bytes, entries, leases := cacheFiles(t, dir)
	if bytes > limit {
		t.Errorf("cache holds %d bytes in %d entries after both jobs, cap %d", bytes, entries, limit)
	}
	if leases != 0 {
		t.Errorf("%d lease files left after both jobs ended", leases)
	}
	if computed != 200 {
		t.Errorf("features computed: %d, want 200 (100 images, two taps)", computed)
	}
	for name, want := range map[string]int64{
		"graft_feature_cache_bytes":           bytes,
		"graft_feature_cache_entries":         int64(entries),
		"graft_feature_cache_max_bytes":       limit,
		"graft_feature_cache_misses_total":    200,
		"graft_feature_cache_evictions_total": int64(200 - entries),
	} {
		if got := metric(t, s, name); got != strconv.FormatInt(want, 10) {
			t.Errorf("%s %s, want %d", name, got, want)
		}
	}
	t.Logf("cache after both jobs: %d bytes in %d entries (cap %d)", bytes, entries, limit)
}

// A second job on the same data hits the cache (/metrics counts it). A
// daemon's start removes what a crash left in the cache (temporary
// files, the lease of a process that is gone) and trims a cache over a
// lowered cap; a lease of a process still running keeps its features.
func TestCacheTidiedAtStart(t *testing.T) {
	f := newFixture(t, 5)
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, daemon.Options{AllowRoots: f.roots, DataDir: data})
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	// The same job again reads every feature from the cache.
	if j, err = s.Submit(context.Background(), f.spec(1)); err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded || j.Summary.CacheHits != 50 {
		t.Fatalf("second job %s (%s): %d hits", j.State, j.Error, j.Summary.CacheHits)
	}
	if hits, misses := metric(t, s, "graft_feature_cache_hits_total"), metric(t, s, "graft_feature_cache_misses_total"); hits != "50" || misses != "50" {
		t.Errorf("/metrics: %s hits, %s misses; want 50 and 50 (two jobs on 50 images)", hits, misses)
	}
	s.stop()
	dir := filepath.Join(data, "cache")
	before, n, _ := cacheFiles(t, dir)
	if n != 50 {
		t.Fatalf("%d entries after a job on 50 images", n)
	}
	ns, _ := filepath.Glob(filepath.Join(dir, "*", "key.json"))
	if len(ns) != 1 {
		t.Fatalf("namespaces: %v", ns)
	}
	name := filepath.Base(filepath.Dir(ns[0]))
	tmp := filepath.Join(dir, name, "00", ".tmp-123")
	os.MkdirAll(filepath.Dir(tmp), 0o755)
	os.WriteFile(tmp, []byte("half an entry"), 0o644)
	dead := filepath.Join(dir, ".leases", name+"-dead.json")
	os.MkdirAll(filepath.Dir(dead), 0o755)
	os.WriteFile(dead, []byte(`{"namespace":"`+name+`","host":"`+hostname(t)+`","pid":999999999,"expires":"2999-01-01T00:00:00Z"}`), 0o644)

	limit := before / 2
	s = startServer(t, daemon.Options{AllowRoots: f.roots, DataDir: data, CacheMaxBytes: limit})
	s.stop()
	after, _, leases := cacheFiles(t, dir)
	if after > limit || after == 0 {
		t.Errorf("after a start with a cap of %d: %d bytes (before: %d)", limit, after, before)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Error("a temporary file a crash left is still there")
	}
	if leases != 0 {
		t.Error("the lease of a process that is gone is still there")
	}

	// A live lease (this test's process, on this host) keeps them all.
	live := filepath.Join(dir, ".leases", name+"-live.json")
	os.WriteFile(live, []byte(`{"namespace":"`+name+`","host":"`+hostname(t)+`","pid":`+strconv.Itoa(os.Getpid())+`,"expires":"2999-01-01T00:00:00Z"}`), 0o644)
	s = startServer(t, daemon.Options{AllowRoots: f.roots, DataDir: data, CacheMaxBytes: 1})
	s.stop()
	if kept, _, _ := cacheFiles(t, dir); kept != after {
		t.Errorf("a leased namespace lost entries at start: %d bytes, had %d", kept, after)
	}
}

// A daemon and graft train share one cache directory, each streaming its
// own tap's features under one cap below either's: both succeed, the
// cache ends under the cap, and the shared counts hold both processes'
// lookups.
func TestCacheSharedByDaemonAndTrain(t *testing.T) {
	f := newFixture(t, 10)
	const limit = 1_000_000
	s := startServer(t, daemon.Options{AllowRoots: f.roots, CacheMaxBytes: limit})
	dir := filepath.Join(s.dir, "cache")
	req := f.spec(2)
	req.MemoryBudget = api.Ptr[int64](64 << 10)
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(graftBin, "train", "--backbone", backboneDir, "--tap", "conv2d_1", "--data", f.data, "--preprocess", "unit",
		"--head", "conv:16", "--epochs", "2", "--out", filepath.Join(t.TempDir(), "run"), "--cache-dir", dir,
		"--cache-max-bytes", strconv.Itoa(limit), "--memory-budget", "65536", "--log-format", "json")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("graft train on the daemon's cache: %v\n%s", err, out)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	bytes, entries, leases := cacheFiles(t, dir)
	if bytes > limit || leases != 0 {
		t.Errorf("cache after both: %d bytes in %d entries (cap %d), %d leases", bytes, entries, limit, leases)
	}
	if got := metric(t, s, "graft_feature_cache_misses_total"); got != "200" {
		t.Errorf("misses counted: %s, want 200 (100 images, two taps, two processes)", got)
	}
}

func hostname(t *testing.T) string {
	h, err := os.Hostname()
	if err != nil {
		t.Skip("no host name:", err)
	}
	return h
}

// graft serve's --cache-max-bytes, through the binary: without it the cap
// is 20% of the data directory's disk (statfs, read here), with it the
// number given; /metrics says which.
func TestServeCacheMaxBytesFlag(t *testing.T) {
	f := newFixture(t, 1)
	maxBytes := func(addr string) string {
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, "graft_feature_cache_max_bytes "); ok {
				return v
			}
		}
		return "(absent)"
	}
	data := filepath.Join(t.TempDir(), "data")
	addr := freeAddr(t)
	p := startDaemon(t, addr, data, f)
	var st syscall.Statfs_t
	if err := syscall.Statfs(data, &st); err != nil {
		t.Fatal(err)
	}
	if got, want := maxBytes(addr), int64(float64(int64(st.Blocks)*int64(st.Bsize))*0.2); got != strconv.FormatInt(want, 10) {
		t.Errorf("default cap %s, want 20%% of the disk: %d", got, want)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.wait(t, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	addr = freeAddr(t)
	startDaemon(t, addr, data, f, "--cache-max-bytes", "12345")
	if got := maxBytes(addr); got != "12345" {
		t.Errorf("--cache-max-bytes 12345: %s", got)
	}
}

// graft cache ls and prune on a daemon's cache while a job streams its
// features from it: ls shows the job's namespace leased, prune down to
// one byte removes none of its entries, and the job succeeds.
func TestCachePruneWhileJobStreams(t *testing.T) {
	f := newFixture(t, 10)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, CacheMaxBytes: 1 << 30, WorkerArgs: []string{"--step-delay", "50ms"}})
	req := f.spec(3)
	req.MemoryBudget = api.Ptr[int64](64 << 10)
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.Client, j.ID, 60*time.Second, "training", func(j *api.Job) bool { return j.Progress.Step > 0 || j.State.Final() })
	dir := filepath.Join(s.dir, "cache")
	before, n, _ := cacheFiles(t, dir)
	out, err := exec.Command(graftBin, "cache", "ls", "--data-dir", s.dir, "--json").Output()
	if err != nil || !strings.Contains(string(out), `"leased": true`) || !strings.Contains(string(out), `"entries": 100`) {
		t.Errorf("graft cache ls while the job trains: %v\n%s", err, out)
	}
	if out, err := exec.Command(graftBin, "cache", "prune", "--data-dir", s.dir, "--max-bytes", "1").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "removed 0 entries") {
		t.Errorf("graft cache prune while the job trains: %v\n%s", err, out)
	}
	if after, _, _ := cacheFiles(t, dir); after != before || n != 100 {
		t.Errorf("the running job's features: %d bytes in %d entries before the prune, %d after", before, n, after)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
		t.Fatalf("job %s: %s", j.State, j.Error)
	}
	// Its lease released, the same prune takes them all.
	if out, err := exec.Command(graftBin, "cache", "prune", "--data-dir", s.dir, "--max-bytes", "1").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "removed 100 entries") {
		t.Errorf("graft cache prune after the job: %v\n%s", err, out)
	}
}
