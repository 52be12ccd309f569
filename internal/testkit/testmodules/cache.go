package testmodules

import (
	"bytes"
	"encoding/binary"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/util/gemm"
)

// CacheEntries maps each feature entry's path (relative to the cache
// root) to its bytes, and the namespaces' key files.
func CacheEntries(t testing.TB, root string) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(p, ".f32") || d.Name() == "key.json") {
			return err
		}
		b, err := os.ReadFile(p)
		rel, _ := filepath.Rel(root, p)
		m[rel] = b
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// SameCache checks a sharded extraction's cache (got) against a single
// process's (want), file for file: byte for byte where the GEMM is batch
// invariant, else to float rounding.
func SameCache(t testing.TB, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("sharded cache has %d files, the single-process one %d", len(got), len(want))
	}
	for p, b := range want {
		if !bytes.Equal(got[p], b) && (gemm.BatchInvariant || !sameFloats(got[p], b)) {
			t.Errorf("cache file %s differs from the single-process extraction's (%d bytes vs %d, %s GEMM)", p, len(got[p]), len(b), gemm.Backend)
		}
	}
}

// sameFloats: two cache entries of one length whose floats (after the
// 16-byte header: magic, count, checksum) agree to float rounding. With
// OpenBLAS (gemm.BatchInvariant false) a sample's features move in the
// last bits with the batch the shard cut.
func sameFloats(a, b []byte) bool {
	const header = 16
	if len(a) != len(b) || len(a) < header || !bytes.Equal(a[:12], b[:12]) {
		return false
	}
	for i := header; i+4 <= len(a); i += 4 {
		x := math.Float32frombits(binary.LittleEndian.Uint32(a[i:]))
		y := math.Float32frombits(binary.LittleEndian.Uint32(b[i:]))
		if math.Abs(float64(x-y)) > 1e-5*(1+math.Abs(float64(y))) {
			return false
		}
	}
	return true
}
