package main

import (
	"crypto/sha256"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/internal/extract/featcache"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// entryFiles walks dir: the .f32 files and their bytes.
func entryFiles(t *testing.T, dir string) (bytes int64, n int) {
	t.Helper()
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".f32") {
			fi, _ := d.Info()
			bytes += fi.Size()
			n++
		}
		return nil
	})
	return bytes, n
}

// fillCache puts n entries of size floats in each of two namespaces of
// dir (taps "a" and "b"); tap a's are two days old.
func fillCache(t *testing.T, dir string, n, size int) {
	t.Helper()
	for _, tap := range []string{"a", "b"} {
		ns, err := featcache.Open(dir, featcache.Key{Backbone: "bb", Tap: tap, Preprocess: "unit", Input: []int{4, 4, 1}}, size, 0)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < n; i++ {
			if err := ns.Put(sha256.Sum256([]byte(tap+strconv.Itoa(i))), make([]float32, size)); err != nil {
				t.Fatal(err)
			}
		}
		if tap == "a" {
			old := time.Now().Add(-48 * time.Hour)
			filepath.WalkDir(ns.Dir(), func(p string, d fs.DirEntry, err error) error {
				if err == nil && strings.HasSuffix(p, ".f32") {
					os.Chtimes(p, old, old)
				}
				return nil
			})
		}
	}
}

func TestCacheDuLsPrune(t *testing.T) {
	const n, size = 6, 100
	dir := filepath.Join(t.TempDir(), "features")
	fillCache(t, dir, n, size)
	bytes, files := entryFiles(t, dir)

	var du struct {
		Dir            string
		Bytes, Entries int64
	}
	out, code := run(t, "cache", "du", "--cache-dir", dir, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &du) != nil || du.Dir != dir || du.Bytes != bytes || du.Entries != int64(files) {
		t.Fatalf("du: exit %d, %q; the files: %d bytes in %d", code, out, bytes, files)
	}
	// The default is graft train's: $GRAFT_CACHE_DIR.
	t.Setenv("GRAFT_CACHE_DIR", dir)
	if out, code = run(t, "cache", "du"); code != 0 || !strings.HasPrefix(out, dir+"\t") || !strings.Contains(out, " in 12 entries ("+strconv.FormatInt(bytes, 10)+" bytes)") {
		t.Errorf("du: exit %d, %q", code, out)
	}

	var ls []featcache.NamespaceInfo
	out, code = run(t, "cache", "ls", "--json")
	if code != 0 || json.Unmarshal([]byte(out), &ls) != nil || len(ls) != 2 {
		t.Fatalf("ls: exit %d, %q", code, out)
	}
	if ls[0].Key.Tap != "b" || ls[1].Key.Tap != "a" || ls[0].Entries != n || ls[0].Bytes != bytes/2 || ls[0].Size != size {
		t.Errorf("ls, most recent first: %+v", ls)
	}
	if out, code = run(t, "cache", "ls"); code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "unit") {
		t.Errorf("ls: exit %d, %q", code, out)
	}

	// --older-than 1d: tap a's entries go, b's stay.
	if out, code = run(t, "cache", "prune", "--older-than", "1d"); code != 0 || !strings.HasPrefix(out, "removed 6 entries") {
		t.Errorf("prune --older-than: exit %d, %q", code, out)
	}
	if b, k := entryFiles(t, dir); b != bytes/2 || k != n {
		t.Errorf("after prune --older-than 1d: %d bytes in %d files", b, k)
	}
	// --max-bytes: at most that many left.
	limit := bytes / 5
	if _, code = run(t, "cache", "prune", "--max-bytes", strconv.FormatInt(limit, 10)); code != 0 {
		t.Errorf("prune --max-bytes: exit %d", code)
	}
	if b, _ := entryFiles(t, dir); b > limit || b == 0 {
		t.Errorf("after prune --max-bytes %d: %d bytes", limit, b)
	}

	// A daemon's cache: --data-dir's cache/.
	data := t.TempDir()
	fillCache(t, filepath.Join(data, "cache"), 1, size)
	out, code = run(t, "cache", "du", "--data-dir", data, "--json")
	if code != 0 || json.Unmarshal([]byte(out), &du) != nil || du.Dir != filepath.Join(data, "cache") || du.Entries != 2 {
		t.Errorf("du --data-dir: exit %d, %q", code, out)
	}

	for _, c := range []struct {
		args []string
		says string
	}{
		{[]string{"cache", "prune"}, "--older-than"},
		{[]string{"cache", "prune", "--older-than", "soon"}, "not a positive duration"},
		{[]string{"cache", "du", "--data-dir", data, "--cache-dir", dir}, "pass one"},
	} {
		if _, stderr, code := runAll(t, c.args...); code == 0 || !strings.Contains(stderr, c.says) {
			t.Errorf("%v: exit %d, %q", c.args, code, stderr)
		}
	}
}

// graft train with a cap below its features, streaming them (a memory
// budget below them too): its lease keeps them while it trains, it
// succeeds, and at its end the cache is trimmed under the cap.
func TestTrainUnderCacheCap(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 5)
	dir := filepath.Join(t.TempDir(), "features")
	const limit = 200_000 // 50 images x 12560 bytes at conv2d_2: 628 KB
	out, stderr, code := runAll(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit",
		"--head", "linear", "--epochs", "2", "--out", filepath.Join(t.TempDir(), "run"), "--cache-dir", dir,
		"--cache-max-bytes", strconv.Itoa(limit), "--memory-budget", "65536", "--log-format", "json")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, out, stderr)
	}
	if b, n := entryFiles(t, dir); b > limit || n == 0 {
		t.Errorf("after the run: %d bytes in %d entries, cap %d", b, n, limit)
	}
	if leases, _ := os.ReadDir(filepath.Join(dir, ".leases")); len(leases) != 0 {
		t.Errorf("%d lease files left", len(leases))
	}
}
