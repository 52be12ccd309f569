package dataset

import (
	"errors"
	"fmt"
	"io/fs"
)

// openError says that path could not be opened, naming it once: an
// *fs.PathError names it again ("open /d: stat /d: no such file").
// errors.Is(err, fs.ErrNotExist) still holds.
func openError(path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == path {
		err = pe.Err
	}
	return fmt.Errorf("dataset: open %s: %w", path, err)
}
