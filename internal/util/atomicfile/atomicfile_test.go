package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestFailedWriteKeepsOldFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ckpt")
	if err := Write(path, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "old"); return err }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")
	err := Write(path, 0o644, func(w io.Writer) error {
		io.WriteString(w, "half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want the fill error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Errorf("file now holds %q, want the old content", b)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
}

// A linked name keeps the bytes it was linked to when the source is
// written again (Write replaces the file, never changes it in place), an
// existing destination is replaced, and no temporary name is left over.
func TestLinkKeepsItsBytesWhenTheSourceIsRewritten(t *testing.T) {
	dir := t.TempDir()
	src, dst := filepath.Join(dir, "last"), filepath.Join(dir, "best")
	put := func(path, s string) {
		t.Helper()
		if err := Write(path, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, s); return err }); err != nil {
			t.Fatal(err)
		}
	}
	put(dst, "older")
	put(src, "epoch 1")
	if err := Link(src, dst, 0o644); err != nil {
		t.Fatal(err)
	}
	put(src, "epoch 2")
	for path, want := range map[string]string{src: "epoch 2", dst: "epoch 1"} {
		if b, err := os.ReadFile(path); err != nil || string(b) != want {
			t.Errorf("%s: %q %v, want %q", filepath.Base(path), b, err, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("%d files in the folder, want last and best only", len(ents))
	}
	if err := Link(filepath.Join(dir, "missing"), dst, 0o644); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("linking a missing file: %v, want os.ErrNotExist", err)
	}
}
