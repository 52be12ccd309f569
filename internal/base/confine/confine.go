package confine

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Errors; every error of the package wraps one of these or fs.ErrNotExist.
var (
	// ErrOutside: the path, symlinks followed, is outside every root.
	ErrOutside = errors.New("outside the allowed roots")
	// ErrPath: not a usable path (NUL byte, relative where roots apply).
	ErrPath = errors.New("invalid path")
	// ErrNotRegular: a FIFO, device, socket or directory where a file is read.
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge: a file over the size cap of its format.
	ErrTooLarge = errors.New("file too large")
)

// Roots are the directories files may come from, absolute with symlinks
// resolved. The zero value and nil confine nothing.
type Roots struct {
	dirs []string
}

// New resolves dirs (absolute, symlinks followed); each must be an
// existing directory. No dirs gives a Roots that confines nothing.
func New(dirs []string) (*Roots, error) {
	r := &Roots{}
	for _, d := range dirs {
		if strings.ContainsRune(d, 0) {
			return nil, fmt.Errorf("confine: root %q: %w: contains a NUL byte", d, ErrPath)
		}
		abs, err := filepath.Abs(d)
		if err != nil {
			return nil, fmt.Errorf("confine: root %s: %w", d, err)
		}
		real, err := filepath.EvalSymlinks(abs)
		if err != nil {
			return nil, fmt.Errorf("confine: root %s: %w", d, err)
		}
		st, err := os.Stat(real)
		if err != nil {
			return nil, fmt.Errorf("confine: root %s: %w", d, err)
		}
		if !st.IsDir() {
			return nil, fmt.Errorf("confine: root %s: %w: not a directory", d, ErrPath)
		}
		r.dirs = append(r.dirs, real)
	}
	return r, nil
}

// Enabled reports whether r confines anything.
func (r *Roots) Enabled() bool { return r != nil && len(r.dirs) > 0 }

// Dirs are the resolved roots.
func (r *Roots) Dirs() []string {
	if r == nil {
		return nil
	}
	return append([]string(nil), r.dirs...)
}

// Within reports whether path is root or below it (both clean and absolute).
func Within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

func (r *Roots) rootOf(real string) string {
	for _, d := range r.dirs {
		if Within(d, real) {
			return d
		}
	}
	return ""
}

// Resolve returns p with every symlink followed when it lies inside a
// root. With roots, p must be absolute (a relative path would depend on
// the daemon's working directory). A missing file inside the roots wraps
// fs.ErrNotExist. A path outside them gets one answer, ErrOutside, that
// names p only: whether something exists there, or where a link leads,
// is not told. Without roots p is returned as given (NUL bytes are still
// refused).
func (r *Roots) Resolve(p string) (string, error) {
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w: %q contains a NUL byte", ErrPath, p)
	}
	if !r.Enabled() {
		return p, nil
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Errorf("%w: %q is relative: give an absolute path (it must lie inside %s)", ErrPath, p, r.list())
	}
	real, missing, err := follow(filepath.Clean(p))
	switch {
	case r.rootOf(real) == "":
		return "", fmt.Errorf("%w: %s is outside %s", ErrOutside, p, r.list())
	case err != nil:
		return "", fmt.Errorf("%w: %s: %v", ErrPath, p, err)
	case missing:
		return "", fmt.Errorf("%s does not exist: %w", p, fs.ErrNotExist)
	}
	return real, nil
}

// maxLinks bounds the symlinks one path may pass through (Linux's own
// limit is 40).
const maxLinks = 255

// follow resolves the symlinks of the clean absolute path p as
// filepath.EvalSymlinks does, but does not stop at a missing component:
// it returns the resolved part joined with the rest (and missing), so
// that where p leads is known whether or not it exists. Another error
// (a file used as a folder, no permission) comes back with the path so
// far, likewise.
func follow(p string) (real string, missing bool, err error) {
	done := string(filepath.Separator)
	rest := strings.Split(p, string(filepath.Separator))
	for links := 0; len(rest) > 0; {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			done = filepath.Dir(done)
			continue
		}
		next := filepath.Join(done, c)
		st, err := os.Lstat(next)
		if err != nil {
			return filepath.Join(append([]string{next}, rest...)...), errors.Is(err, fs.ErrNotExist), ignoreNotExist(err)
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			done = next
			continue
		}
		target, err := os.Readlink(next)
		if links++; err == nil && links > maxLinks {
			err = errors.New("too many symbolic links")
		}
		if err != nil {
			return filepath.Join(append([]string{next}, rest...)...), false, err
		}
		if filepath.IsAbs(target) {
			done = string(filepath.Separator)
		}
		rest = append(strings.Split(target, string(filepath.Separator)), rest...)
	}
	return done, false, nil
}

func ignoreNotExist(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Glob returns the files matching pattern (filepath.Match syntax) as
// filepath.Glob does, but with roots only those listed in folders inside
// them: the pattern's fixed leading folders must resolve inside a root
// (else ErrOutside, naming the pattern only), and a match in a folder
// reached through a link out is left out as if it did not exist, so the
// answer says nothing of what lies outside. A match that is itself a link
// out is kept: opening it says it is outside, whatever it leads to.
func (r *Roots) Glob(pattern string) ([]string, error) {
	if !r.Enabled() {
		return filepath.Glob(pattern)
	}
	if strings.ContainsRune(pattern, 0) || !filepath.IsAbs(pattern) {
		return nil, fmt.Errorf("%w: pattern %q: give an absolute pattern without NUL bytes (it must lie inside %s)", ErrPath, pattern, r.list())
	}
	parts := strings.Split(filepath.Clean(pattern), string(filepath.Separator))
	fixed := 1 // parts[0] is "" (the root folder)
	for fixed < len(parts)-1 && !strings.ContainsAny(parts[fixed], `*?[\`) {
		fixed++
	}
	_, err := r.Resolve(string(filepath.Separator) + filepath.Join(parts[1:fixed]...))
	switch {
	case errors.Is(err, ErrOutside):
		return nil, fmt.Errorf("%w: pattern %s is outside %s", ErrOutside, pattern, r.list())
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil
	case err != nil:
		return nil, err
	}
	all, err := filepath.Glob(pattern)
	var inside []string
	for _, m := range all {
		if _, err := r.Resolve(filepath.Dir(m)); err == nil {
			inside = append(inside, m)
		}
	}
	return inside, err
}

func (r *Roots) list() string {
	if len(r.dirs) == 1 {
		return "the allowed root " + r.dirs[0]
	}
	return "the allowed roots " + strings.Join(r.dirs, ", ")
}

// Open opens the regular file p for reading: inside the roots (through an
// os.Root, so no symlink swapped in after Resolve leads out), never
// blocking on a FIFO and never reading a device.
func (r *Roots) Open(p string) (*os.File, error) {
	real, err := r.Resolve(p)
	if err != nil {
		return nil, err
	}
	var f *os.File
	if !r.Enabled() {
		f, err = os.OpenFile(real, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	} else {
		root := r.rootOf(real)
		var rt *os.Root
		if rt, err = os.OpenRoot(root); err == nil {
			rel, _ := filepath.Rel(root, real)
			f, err = rt.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
			rt.Close()
			if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrPermission) {
				// os.Root refuses a path that leaves it: the file changed
				// since it was resolved.
				err = fmt.Errorf("%w: %s: %v", ErrOutside, p, err)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("%w: %s is a %s; graft reads regular files only", ErrNotRegular, p, kind(st.Mode()))
	}
	return f, nil
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}

// ReadFile reads the regular file p (see Open), refusing one over max bytes.
func (r *Roots) ReadFile(p string, max int64) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > max {
		return nil, fmt.Errorf("%w: %s is %d bytes, over the %d this format allows", ErrTooLarge, p, st.Size(), max)
	}
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("%w: %s grew past %d bytes while read", ErrTooLarge, p, max)
	}
	return b, nil
}
