package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrPath reports a path outside the allowed roots, or none at all.
var ErrPath = errors.New("path not allowed")

// resolveRoots makes the allowed roots absolute with symlinks resolved,
// so that a path is compared with what it really is.
func resolveRoots(roots []string) ([]string, error) {
	out := make([]string, 0, len(roots))
	for _, r := range roots {
		abs, err := filepath.Abs(r)
		if err != nil {
			return nil, fmt.Errorf("daemon: --allow-root %s: %w", r, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("daemon: --allow-root %s: %w", r, err)
		}
		out = append(out, real)
	}
	return out, nil
}

// within reports whether path is root or below it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// confine resolves p (absolute, every symlink followed) and returns it
// when it lies inside an allowed root. The resolved path is what the
// daemon uses from then on, so a link swapped later changes nothing.
func (s *Server) confine(p string) (string, error) {
	if len(s.roots) == 0 {
		return "", fmt.Errorf("%w: this daemon allows no paths (start graft serve with --allow-root DIR)", ErrPath)
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w: contains a NUL byte", ErrPath)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPath, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%w: %s does not exist", ErrPath, p)
	}
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPath, err)
	}
	for _, r := range s.roots {
		if within(r, real) {
			return real, nil
		}
	}
	return "", fmt.Errorf("%w: %s resolves to %s, outside the allowed roots %v", ErrPath, p, real, s.roots)
}
