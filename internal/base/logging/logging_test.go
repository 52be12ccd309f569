package logging

import (
	"os"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/ptytest"
)

// A terminal is one; /dev/null, a character device too, and a file are
// not (their readers want JSON lines, not progress bars).
func TestIsTerminal(t *testing.T) {
	master, tty := ptytest.Open(t)
	defer master.Close()
	defer tty.Close()
	if !IsTerminal(tty) {
		t.Error("a pseudo-terminal is not taken for a terminal")
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	file, err := os.Create(t.TempDir() + "/log")
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	for name, f := range map[string]*os.File{"/dev/null": null, "a file": file} {
		if IsTerminal(f) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
}
