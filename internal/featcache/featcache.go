// Package featcache stores backbone features on disk so that a sample goes
// through the frozen backbone once, ever: entries are keyed by the
// backbone's content digest, the tap, the preprocessing and input size
// (the namespace) and the sample's encoded bytes (the entry). A second run
// on the same data reads features instead of running the backbone.
//
// Entries are written atomically (temporary file, rename) and checksummed;
// a damaged entry is treated as missing and removed. Nothing is fsynced: a
// cache entry lost in a crash is recomputed, never trusted half-written.
package featcache

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"

	"github.com/graft-ml/graft/internal/hint"
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
	dir  string
	size int
}

// Open returns the namespace of key under root, creating it.
func Open(root string, key Key, size int) (*Namespace, error) {
	if size < 1 {
		return nil, fmt.Errorf("featcache: feature size %d", size)
	}
	dir := filepath.Join(root, key.hash())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("featcache: %w", err)
	}
	return &Namespace{dir: dir, size: size}, nil
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
// whether they were there. A damaged entry is removed and reported absent.
func (n *Namespace) Get(sample [32]byte, dst []float32) (bool, error) {
	if len(dst) != n.size {
		return false, fmt.Errorf("featcache: get into %d floats, entries hold %d", len(dst), n.size)
	}
	p := n.path(sample)
	raw, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("featcache: %w", err)
	}
	if len(raw) != headerSize+4*n.size || string(raw[:len(magic)]) != magic ||
		int(binary.LittleEndian.Uint32(raw[len(magic):])) != n.size ||
		crc32c.Checksum(raw[headerSize:]) != binary.LittleEndian.Uint32(raw[len(magic)+4:]) {
		os.Remove(p)
		return false, nil
	}
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[headerSize+4*i:]))
	}
	return true, nil
}

// Put stores the sample's features.
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
	tmp, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("featcache: %w", err)
	}
	_, err = tmp.Write(raw)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), p)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("featcache: %w", err)
	}
	return nil
}
