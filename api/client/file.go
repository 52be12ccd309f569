package client

import (
	"io"
	"os"
	"path/filepath"
)

// writeFile writes r to a temporary file beside dest, synced, then renamed
// onto dest: dest holds all of r or is as it was. (graft's own
// internal/util/atomicfile does the same, but this module imports nothing
// of graft's.)
func writeFile(dest string, mode os.FileMode, r io.Reader) (err error) {
	dir := filepath.Dir(dest)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = io.Copy(tmp, r); err != nil {
		return err
	}
	if err = tmp.Chmod(mode); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), dest); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		defer d.Close()
		return d.Sync()
	}
	return nil
}
