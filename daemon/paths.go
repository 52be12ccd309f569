package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/graft-ml/graft/daemon/sched"
)

// ErrPath reports a path outside the allowed roots, or none at all.
var ErrPath = errors.New("path not allowed")

// confine resolves p (absolute, every symlink followed) and returns it
// when it lies inside an allowed root (internal/base/confine's rules, the same
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

// confineList confines a comma list of TFRecord files and globs: each
// file, and each file a glob matches now, must lie inside the roots. Files
// come back resolved, globs as given (the worker expands them again and
// confines every file it opens).
func (s *Server) confineList(spec string) (string, error) {
	var out []string
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if !strings.ContainsAny(part, "*?[") {
			real, err := s.confine(part)
			if err != nil {
				return "", err
			}
			out = append(out, real)
			continue
		}
		if !filepath.IsAbs(part) {
			return "", fmt.Errorf("%w: pattern %q is relative: give an absolute pattern", ErrPath, part)
		}
		matches, err := s.roots.Glob(part) // only what lies inside
		if err != nil {
			return "", fmt.Errorf("%w: pattern %q: %v", ErrPath, part, err)
		}
		if len(matches) == 0 {
			return "", fmt.Errorf("%w: pattern %q matches no files", ErrPath, part)
		}
		for _, m := range matches {
			if _, err := s.confine(m); err != nil {
				return "", err
			}
		}
		out = append(out, part)
	}
	if len(out) == 0 {
		return "", fmt.Errorf("%w: %q names no files", ErrPath, spec)
	}
	return strings.Join(out, ","), nil
}

// diskSpace reports a data directory whose disk has less free space than
// Options.MinFreeDisk: jobs could not write their runs, logs or events.
func (s *Server) diskSpace() error {
	if err := sched.DiskSpace(s.dataDir, s.opts.MinFreeDisk); err != nil {
		return fmt.Errorf("%w%s", err, s.largestPart())
	}
	return nil
}

// freeDisk is the free space on the data directory's disk, and whether it
// is under Options.MinFreeDisk (unknown is not under).
func (s *Server) freeDisk() (free int64, under bool) {
	return sched.FreeDisk(s.dataDir, s.opts.MinFreeDisk)
}
