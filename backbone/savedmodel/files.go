package savedmodel

import (
	"os"

	"github.com/graft-ml/graft/internal/base/confine"
)

// Files opens a SavedModel's files: graft passes its *confine.Roots (the
// daemon's --allow-root: regular files inside the roots, symlinks
// followed, size caps). It is an interface so that exported functions
// take no internal type; os.Root and fs.FS do not fit, as the roots are
// several and the paths absolute. Nil reads what a path names (regular
// files only).
type Files interface {
	Open(path string) (*os.File, error)
	ReadFile(path string, max int64) ([]byte, error)
}

// filesOrPlain is f, or the unconfined reader for nil.
func filesOrPlain(f Files) Files {
	if f == nil {
		return (*confine.Roots)(nil)
	}
	return f
}
