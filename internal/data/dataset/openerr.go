package dataset

import (
	"errors"
	"fmt"
	"io/fs"
)

// openError says that path could not be opened, naming it once: an
// *fs.PathError names it again ("open /d: stat /d: no such file").
// errors.Is(err, fs.ErrNotExist) still holds.
func openError(path string, err error) error { return pathError("open", path, path, err) }

// pathError is "dataset: OP NAME: err", without err's own mention of
// path (NAME is path, or the sample ID of a record in the file path).
func pathError(op, name, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	return fmt.Errorf("dataset: %s %s: %w", op, name, err)
}
