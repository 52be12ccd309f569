package daemon

import (
	"errors"
	"fmt"
	"os"
)

// ErrPath reports a path outside the allowed roots, or none at all.
var ErrPath = errors.New("path not allowed")

// confine resolves p (absolute, every symlink followed) and returns it
// when it lies inside an allowed root (internal/confine's rules, the same
// the worker applies when it opens each file). The resolved path is what
// the job records; the worker confines it again when it opens the files,
// so a link swapped after submission leads nowhere.
func (s *Server) confine(p string) (string, error) {
	if !s.roots.Enabled() {
		return "", fmt.Errorf("%w: this daemon allows no paths (start graft serve with --allow-root DIR)", ErrPath)
	}
	real, err := s.roots.Resolve(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s does not exist", ErrPath, p)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPath, err)
	}
	return real, nil
}
