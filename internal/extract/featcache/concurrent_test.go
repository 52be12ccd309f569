package featcache

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Two processes (two nodes of a cluster on one shared cache) write the
// same entries at once, each its own values, while this one reads them:
// every read is a miss or one writer's whole vector, never a mix or a
// torn entry, and no temporary file is left behind.
func TestTwoProcessesWriteTheSameEntries(t *testing.T) {
	const entries, rounds, size = 16, 60, size0
	if w := os.Getenv("GRAFT_FEATCACHE_WRITER"); w != "" {
		writer(t, os.Getenv("GRAFT_FEATCACHE_ROOT"), w, entries, rounds, size)
		return
	}
	root := t.TempDir()
	procs := startWriters(t, "TestTwoProcessesWriteTheSameEntries", "GRAFT_FEATCACHE_WRITER", root)
	ns, err := Open(root, testKey, size, 0)
	if err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, size)
	reads, hits := 0, 0
	check := func() {
		for e := 0; e < entries; e++ {
			// The file itself, as any reader on any node would find it:
			// absent, or whole (Get would drop a torn one as a miss).
			raw, err := os.ReadFile(ns.path(sample(e)))
			reads++
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) != headerSize+4*size || string(raw[:len(magic)]) != magic {
				t.Fatalf("entry %d read torn: %d bytes", e, len(raw))
			}
			if ok, err := ns.Get(sample(e), dst); !ok || err != nil {
				t.Fatalf("entry %d: a whole file that Get refuses: %v %v", e, ok, err)
			}
			hits++
			if w := whole(dst, e); w == 0 {
				t.Fatalf("entry %d read as a mix of both writers: %v...", e, dst[:4])
			}
		}
	}
	done := make(chan error, len(procs))
	for _, p := range procs {
		go func() { done <- p.Wait() }()
	}
	for finished := 0; finished < len(procs); {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			finished++
		default:
			check()
		}
	}
	before := hits
	check()
	if hits-before != entries {
		t.Errorf("after both writers: %d of %d entries present", hits-before, entries)
	}
	filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err == nil && strings.HasPrefix(info.Name(), ".tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
		return nil
	})
	t.Logf("%d reads while writing, %d hits, all whole", reads, hits)
}

var testKey = Key{Backbone: "shared", Tap: "t", Preprocess: "unit", Input: []int{8, 8, 1}}

func sample(e int) [32]byte { return sha256.Sum256([]byte("sample " + strconv.Itoa(e))) }

// value is writer w's i-th float of entry e.
func value(w, e, i int) float32 { return float32(w*1_000_000 + e*size0 + i) }

const size0 = 4096

// whole says which writer wrote all of dst (0: none, a mix).
func whole(dst []float32, e int) int {
	for _, w := range []int{1, 2} {
		ok := true
		for i, v := range dst {
			if v != value(w, e, i) {
				ok = false
				break
			}
		}
		if ok {
			return w
		}
	}
	return 0
}

func writer(t *testing.T, root, w string, entries, rounds, size int) {
	id, _ := strconv.Atoi(w)
	ns, err := Open(root, testKey, size, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := make([]float32, size)
	for r := 0; r < rounds; r++ {
		for e := 0; e < entries; e++ {
			for i := range f {
				f[i] = value(id, e, i)
			}
			if err := ns.Put(sample(e), f); err != nil {
				t.Fatal(fmt.Errorf("writer %s: %w", w, err))
			}
		}
	}
}

// startWriters starts this test binary twice as writers "1" and "2" of
// the cache in root: it runs test with env set to the writer's name.
func startWriters(t *testing.T, test, env, root string) []*exec.Cmd {
	t.Helper()
	var procs []*exec.Cmd
	for _, w := range []string{"1", "2"} {
		cmd := exec.Command(os.Args[0], "-test.run", "^"+test+"$", "-test.count=1")
		cmd.Env = append(os.Environ(), env+"="+w, "GRAFT_FEATCACHE_ROOT="+root)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
	}
	return procs
}
