package featcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/util/crc32c"
)

// Key names what produced the features; any change makes a new namespace.
type Key struct {
	Backbone   string `json:"backbone"` // content digest of the SavedModel
	Tap        string `json:"tap"`
	Preprocess string `json:"preprocess"`
	Input      []int  `json:"input"` // H, W, C the images were resized to
}

// keyVersion names how samples become backbone inputs; v2: JPEGs decode
// as TensorFlow decodes them (package tfjpeg), so features cached from
// image/jpeg's pixels are not reused.
const keyVersion = "graft-features-v2"

func (k Key) hash() string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%v", keyVersion, k.Backbone, k.Tap, k.Preprocess, k.Input)
	return hex.EncodeToString(h.Sum(nil))[:32]
}

// DefaultDir is $GRAFT_CACHE_DIR, else graft/features in the user's
// cache directory.
func DefaultDir() (string, error) {
	if d := os.Getenv("GRAFT_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", hint.With(fmt.Errorf("featcache: no cache directory (%v)", err), "set GRAFT_CACHE_DIR or pass --cache-dir")
	}
	return filepath.Join(d, "graft", "features"), nil
}

// Namespace holds the features of one Key; every entry has Size floats.
type Namespace struct {
	root, name, dir string
	size            int
	max             int64 // the cache's cap in bytes; 0: none
	// Lookups (Get) not yet added to the cache's shared counts.
	hits, misses atomic.Int64
}

// keyFile, in a namespace's folder, says what made its features (graft
// cache ls shows it).
const keyFile = "key.json"

type keyRecord struct {
	Key
	Size int `json:"size"`
}

// Open returns the namespace of key under root, creating it. maxBytes
// caps the bytes of every entry under root, all namespaces together: a
// Put that takes the cache past it evicts the least recently used entries
// outside leased namespaces (Lease). 0: no cap.
func Open(root string, key Key, size int, maxBytes int64) (*Namespace, error) {
	if size < 1 {
		return nil, fmt.Errorf("featcache: feature size %d", size)
	}
	name := key.hash()
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("featcache: %w", err)
	}
	kp := filepath.Join(dir, keyFile)
	if _, err := os.Stat(kp); errors.Is(err, os.ErrNotExist) {
		raw, _ := json.Marshal(keyRecord{key, size})
		if err := replace(kp, raw); err != nil {
			return nil, err
		}
	}
	return &Namespace{root: root, name: name, dir: dir, size: size, max: max(maxBytes, 0)}, nil
}

// Dir is the namespace's directory.
func (n *Namespace) Dir() string { return n.dir }

func (n *Namespace) path(sample [32]byte) string {
	h := hex.EncodeToString(sample[:])
	return filepath.Join(n.dir, h[:2], h+".f32")
}

// magic starts every entry; the float count and a crc32c of the data
// follow, then the little-endian floats.
const magic = "GRAFTFC1"

const headerSize = len(magic) + 8

// Get fills dst (Size floats) with the sample's features and reports
// whether they were there, counted as a lookup (a hit or a miss). A
// damaged entry is removed and reported absent. A hit makes the entry the
// most recently used.
func (n *Namespace) Get(sample [32]byte, dst []float32) (bool, error) {
	ok, err := n.Read(sample, dst)
	if err == nil {
		if ok {
			n.hits.Add(1)
		} else {
			n.misses.Add(1)
		}
	}
	return ok, err
}

// touchEvery is how stale an entry's recency (its mtime) may be before a
// read renews it: reads of a streamed run, every epoch, cost no write.
const touchEvery = time.Minute

// Read is Get without counting a lookup: a streamed run reading its
// features again every epoch.
func (n *Namespace) Read(sample [32]byte, dst []float32) (bool, error) {
	if len(dst) != n.size {
		return false, fmt.Errorf("featcache: get into %d floats, entries hold %d", len(dst), n.size)
	}
	p := n.path(sample)
	raw, mtime, err := readEntry(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil // never written, or evicted: the caller computes it
	}
	if err != nil {
		return false, fmt.Errorf("featcache: %w", err)
	}
	if len(raw) != headerSize+4*n.size || string(raw[:len(magic)]) != magic ||
		int(binary.LittleEndian.Uint32(raw[len(magic):])) != n.size ||
		crc32c.Checksum(raw[headerSize:]) != binary.LittleEndian.Uint32(raw[len(magic)+4:]) {
		n.count(func() (Stats, error) {
			if os.Remove(p) != nil {
				return Stats{}, nil
			}
			return Stats{Bytes: -int64(len(raw)), Entries: -1}, nil
		}, false)
		return false, nil
	}
	// Recency is the mtime, renewed on a hit: atime is often not kept
	// (noatime, relatime). An entry evicted meanwhile stays evicted.
	if now := time.Now(); now.Sub(mtime) > touchEvery {
		os.Chtimes(p, time.Time{}, now)
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[headerSize+4*i:]))
	}
	return true, nil
}

// readEntry reads the file at p and its mtime.
func readEntry(p string) ([]byte, time.Time, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, time.Time{}, err
	}
	raw, err := io.ReadAll(f)
	return raw, fi.ModTime(), err
}

// Put stores the sample's features; when that takes the cache over its
// cap, the least recently used entries outside leased namespaces go.
// Writers of the same entry, in any process, each rename a whole file
// over it: a reader finds one of them, never a mix.
func (n *Namespace) Put(sample [32]byte, feats []float32) error {
	if len(feats) != n.size {
		return fmt.Errorf("featcache: put of %d floats, entries hold %d", len(feats), n.size)
	}
	raw := make([]byte, headerSize+4*len(feats))
	copy(raw, magic)
	binary.LittleEndian.PutUint32(raw[len(magic):], uint32(len(feats)))
	for i, v := range feats {
		binary.LittleEndian.PutUint32(raw[headerSize+4*i:], math.Float32bits(v))
	}
	binary.LittleEndian.PutUint32(raw[len(magic)+4:], crc32c.Checksum(raw[headerSize:]))
	p := n.path(sample)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("featcache: %w", err)
	}
	tmp, err := writeTemp(filepath.Dir(p), raw)
	if err != nil {
		return err
	}
	// Renamed under the cache's lock, and counted as new unless it was
	// there: the counts stay those of the files.
	return n.count(func() (Stats, error) {
		add := Stats{Bytes: int64(len(raw)), Entries: 1}
		if fi, err := os.Lstat(p); err == nil {
			add = Stats{Bytes: int64(len(raw)) - fi.Size()}
		}
		if err := os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			return Stats{}, fmt.Errorf("featcache: %w", err)
		}
		return add, nil
	}, false)
}

// replace writes raw to p through a hidden temporary file beside it and a
// rename. Nothing is fsynced: a cache file lost in a crash is recomputed.
func replace(p string, raw []byte) error {
	tmp, err := writeTemp(filepath.Dir(p), raw)
	if err == nil {
		if err = os.Rename(tmp, p); err != nil {
			os.Remove(tmp)
			err = fmt.Errorf("featcache: %w", err)
		}
	}
	return err
}

// writeTemp writes raw to a new hidden temporary file in dir.
func writeTemp(dir string, raw []byte) (string, error) {
	tmp, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("featcache: %w", err)
	}
	_, err = tmp.Write(raw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return "", fmt.Errorf("featcache: %w", err)
	}
	return tmp.Name(), nil
}
