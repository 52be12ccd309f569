package confine_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-ml/graft/internal/base/confine"
)

// Every way a path can lead out of the roots or into something that is not
// a file is refused with the right error, without blocking.
func TestOpen(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	write := func(p, s string) string {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	link := func(target, p string) string {
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := write(filepath.Join(root, "ok"), "fine")
	secret := write(filepath.Join(outside, "secret"), "secret")
	fifo := filepath.Join(root, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(root, "sub"), 0o700)
	r, err := confine.New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		roots *confine.Roots
		path  string
		want  error // nil: readable, content "fine"
	}{
		{"inside", r, ok, nil},
		{"link inside", r, link(ok, filepath.Join(root, "l1")), nil},
		{"outside", r, secret, confine.ErrOutside},
		{"link out", r, link(secret, filepath.Join(root, "l2")), confine.ErrOutside},
		{"dir link out", r, filepath.Join(link(outside, filepath.Join(root, "d")), "secret"), confine.ErrOutside},
		{"dotdot", r, filepath.Join(root, "..", filepath.Base(outside), "secret"), confine.ErrOutside},
		{"etc passwd", r, link("/etc/passwd", filepath.Join(root, "pw")), confine.ErrOutside},
		{"relative", r, "ok", confine.ErrPath},
		{"nul", r, ok + "\x00x", confine.ErrPath},
		{"missing", r, filepath.Join(root, "nope"), fs.ErrNotExist},
		{"fifo", r, fifo, confine.ErrNotRegular},
		{"directory", r, filepath.Join(root, "sub"), confine.ErrNotRegular},
		{"no roots: file", nil, ok, nil},
		{"no roots: fifo", nil, fifo, confine.ErrNotRegular},
		{"no roots: device", nil, link("/dev/zero", filepath.Join(root, "zero")), confine.ErrNotRegular},
		{"no roots: nul", nil, "a\x00b", confine.ErrPath},
	} {
		t.Run(c.name, func(t *testing.T) {
			b, err := c.roots.ReadFile(c.path, 100)
			switch {
			case c.want == nil && (err != nil || string(b) != "fine"):
				t.Errorf("got %q, %v; want the file", b, err)
			case c.want != nil && !errors.Is(err, c.want):
				t.Errorf("got %q, %v; want %v", b, err, c.want)
			case c.want != nil && strings.Contains(string(b)+errString(err), "secret\n"):
				t.Errorf("leaked the outside file: %v", err)
			}
		})
	}
	if _, err := r.ReadFile(ok, 3); !errors.Is(err, confine.ErrTooLarge) {
		t.Errorf("4 bytes with a cap of 3: %v", err)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestResolve(t *testing.T) {
	root := t.TempDir()
	real, _ := filepath.EvalSymlinks(root)
	r, err := confine.New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := r.Resolve(root); err != nil || got != real {
		t.Errorf("the root itself: %q, %v", got, err)
	}
	if _, err := confine.New([]string{filepath.Join(root, "nope")}); err == nil {
		t.Error("a missing root was accepted")
	}
	if got, err := (*confine.Roots)(nil).Resolve("rel/x"); err != nil || got != "rel/x" {
		t.Errorf("no roots: %q, %v", got, err)
	}
}

// Issue 22, defect 13: a path outside the roots gets one answer that
// names the path given and the roots, and nothing else: not whether
// something exists there, not where a link leads.
func TestOutsideTellsNothing(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	realRoot, _ := filepath.EvalSymlinks(root)
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := func(name, target string) string {
		p := filepath.Join(root, name)
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	r, err := confine.New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		secret,
		filepath.Join(outside, "missing"),
		filepath.Join(outside, "missing", "deeper"),
		filepath.Join(secret, "under a file"),
		"/etc/passwd",
		link("to-secret", secret),
		link("to-missing", filepath.Join(outside, "missing")),
		link("relative-out", filepath.Join("..", filepath.Base(outside), "secret")),
		link("to-link", filepath.Join(root, "to-secret")),
		filepath.Join(link("dir-out", outside), "secret"),
		filepath.Join(root, "dir-out", "missing"),
	} {
		_, err := r.Resolve(p)
		want := "outside the allowed roots: " + p + " is outside the allowed root " + realRoot
		if !errors.Is(err, confine.ErrOutside) || err.Error() != want {
			t.Errorf("%s:\n got %v\nwant %s", p, err, want)
		}
		if _, err := r.ReadFile(p, 100); !errors.Is(err, confine.ErrOutside) || err.Error() != want {
			t.Errorf("ReadFile %s: %v", p, err)
		}
	}
	// Inside the roots a missing file is said to be missing.
	if _, err := r.Resolve(filepath.Join(root, "nope")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing inside: %v", err)
	}
	if got, err := r.Resolve(link("back-in", filepath.Join(root, "..", filepath.Base(root), "sub"))); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a dangling link inside: %q, %v", got, err)
	}
}

// Glob lists only folders inside the roots: a folder reached through a
// link out matches nothing whether or not its target has matching files,
// a link out is matched by its own name (whatever it leads to), and a
// pattern outside gets one answer naming the pattern.
func TestGlob(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	realRoot, _ := filepath.EvalSymlinks(root)
	for _, p := range []string{filepath.Join(root, "a.rec"), filepath.Join(root, "b.rec"), filepath.Join(root, "sub", "c.rec"), filepath.Join(outside, "x.rec")} {
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.Symlink(outside, filepath.Join(root, "out"))
	os.Symlink(filepath.Join(root, "sub"), filepath.Join(root, "in"))
	os.Symlink(filepath.Join(outside, "x.rec"), filepath.Join(root, "x.link"))
	os.Symlink(filepath.Join(outside, "missing.rec"), filepath.Join(root, "y.link"))
	r, err := confine.New([]string{root})
	if err != nil {
		t.Fatal(err)
	}
	for pattern, want := range map[string][]string{
		filepath.Join(root, "*.rec"):            {filepath.Join(root, "a.rec"), filepath.Join(root, "b.rec")},
		filepath.Join(root, "in", "*.rec"):      {filepath.Join(root, "in", "c.rec")},
		filepath.Join(root, "*", "c.rec"):       {filepath.Join(root, "in", "c.rec"), filepath.Join(root, "sub", "c.rec")},
		filepath.Join(root, "*", "x.rec"):       nil,
		filepath.Join(root, "missing", "*.rec"): nil,
		filepath.Join(root, "*.link"):           {filepath.Join(root, "x.link"), filepath.Join(root, "y.link")},
	} {
		got, err := r.Glob(pattern)
		if err != nil || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("%s: %v, %v; want %v", pattern, got, err, want)
		}
	}
	for _, pattern := range []string{filepath.Join(outside, "*.rec"), filepath.Join(outside, "none", "*.rec"), "/etc/pass*",
		filepath.Join(root, "out", "*.rec"), filepath.Join(root, "out", "none*")} {
		_, err := r.Glob(pattern)
		if want := "outside the allowed roots: pattern " + pattern + " is outside the allowed root " + realRoot; !errors.Is(err, confine.ErrOutside) || err.Error() != want {
			t.Errorf("%s: %v; want %s", pattern, err, want)
		}
	}
}
