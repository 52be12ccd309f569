package dataset

import (
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// Issue 22, defect 10: a class name that is not valid UTF-8 would become
// "x\ufffd" as text, so two classes ("x\xff", "x\xfe") would share one
// name. It is refused where the data is read, naming the class with %q,
// whichever source names it: a folder, a CSV label, a record's
// image/class/text.
func TestClassNamesMustBeUTF8(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "folder")
	for _, class := range []string{"x\xff", "x\xfe"} {
		writeFile(t, filepath.Join(folder, class, "1.png"), pngBytes(t, 2, 2, gray(1)))
	}
	writeFile(t, filepath.Join(folder, "ok", "1.png"), pngBytes(t, 2, 2, gray(2)))
	img := writeFile(t, filepath.Join(dir, "1.png"), pngBytes(t, 2, 2, gray(3)))
	csv := writeFile(t, filepath.Join(dir, "m.csv"), []byte(img+",cat\n"+img+",x\xff\n"))
	rec := writeRecords(t, filepath.Join(dir, "r.tfrecord"), [][]byte{
		EncodeExample(pngBytes(t, 2, 2, gray(4)), 0, "cat"),
		EncodeExample(pngBytes(t, 2, 2, gray(5)), 1, "x\xfe"),
	})
	for _, c := range []struct {
		name, path, want string
	}{
		{"folder", folder, `class "x\xfe" (folder ` + strconv.Quote(filepath.Join(folder, "x\xfe")) + `)`},
		{"csv label", csv, `class "x\xff" (` + csv + ` line 2)`},
		{"record text", rec, `class "x\xfe" (` + rec + `#1)`},
	} {
		t.Run(c.name, func(t *testing.T) {
			ds, err := Open(c.path, Options{})
			if !errors.Is(err, ErrClassName) || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "rename it to valid UTF-8") {
				t.Errorf("Open: %v, %v; want ErrClassName naming %s and saying to rename it", ds, err, c.want)
			}
		})
	}
	// Valid names outside ASCII, and control characters, are names.
	ok := filepath.Join(dir, "ok")
	for _, class := range []string{"é", "new\nline"} {
		writeFile(t, filepath.Join(ok, class, "1.png"), pngBytes(t, 2, 2, gray(1)))
	}
	if ds, err := Open(ok, Options{}); err != nil || len(ds.Classes) != 2 {
		t.Errorf("valid UTF-8 names: %v, %v", ds, err)
	}
}
