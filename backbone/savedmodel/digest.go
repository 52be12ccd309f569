package savedmodel

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/graft-ml/graft/internal/base/wrap"
)

// Digest is the SHA-256 of every regular file of the SavedModel directory
// (relative path, size and content, in lexical order): any change to the
// graph, the variables or the assets changes it. Feature caches key on it.
func (m *Model) Digest() (string, error) { return DigestDirIn(m.roots, m.Dir) }

// DigestDir is Model.Digest of the SavedModel in dir, without loading it:
// it depends on the files only, never on the engine that runs them.
func DigestDir(dir string) (string, error) { return DigestDirIn(nil, dir) }

// DigestDirIn is DigestDir with every file opened inside roots.
func DigestDirIn(roots Files, dir string) (string, error) {
	roots = filesOrPlain(roots)
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		f, err := roots.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.ToSlash(rel), st.Size())
		_, err = io.Copy(h, f)
		return err
	})
	if err != nil {
		return "", wrap.Errorf("savedmodel", err, "digest %s", dir)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
