package dataset

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCSV(t *testing.T) {
	dir := t.TempDir()
	p := pngBytes(t, 3, 3, gray(50))
	writeFile(t, filepath.Join(dir, "img", "a.png"), p)
	writeFile(t, filepath.Join(dir, "img", "b, c.png"), p)
	abs := writeFile(t, filepath.Join(t.TempDir(), "abs.jpg"), jpegBytes(t, 3, 3, gray(9)))
	rows := "img/a.png,tabby cat\n" +
		"\"img/b, c.png\",\"dog, big\"\n" +
		"\n" +
		abs + " , tabby cat\n"

	for _, tc := range []struct{ name, header string }{
		{"no header", ""},
		{"header", "path,label\n"},
		{"other header", "\xef\xbb\xbfFilename,Class\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			csvPath := writeFile(t, filepath.Join(dir, "m.csv"), []byte(tc.header+rows))
			ds, err := Open(csvPath, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if ds.Kind != KindCSV || strings.Join(ds.Classes, "|") != "dog, big|tabby cat" {
				t.Fatalf("classes %q", ds.Classes)
			}
			want := []Sample{
				{ID: filepath.Join(dir, "img", "a.png"), Label: 1},
				{ID: filepath.Join(dir, "img", "b, c.png"), Label: 0},
				{ID: abs, Label: 1},
			}
			if len(ds.Samples) != 3 {
				t.Fatalf("samples %+v", ds.Samples)
			}
			for i, w := range want {
				if s := ds.Samples[i]; s.ID != w.ID || s.Path != w.ID || s.Label != w.Label {
					t.Errorf("sample %d = %+v, want %+v", i, s, w)
				}
			}
		})
	}
}

func TestCSVColumnsByHeaderAndNumericLabels(t *testing.T) {
	dir := t.TempDir()
	p := pngBytes(t, 2, 2, gray(1))
	for _, n := range []string{"1", "2", "3"} {
		writeFile(t, filepath.Join(dir, n+".png"), p)
	}
	csvPath := writeFile(t, filepath.Join(dir, "m.csv"), []byte("label,path,extra\n10,1.png,x\n2,2.png,y\n10,3.png,z\n"))
	ds, err := Open(csvPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ds.Classes, ",") != "2,10" {
		t.Errorf("classes %v: integers sort numerically", ds.Classes)
	}
	if ds.Samples[0].Label != 1 || ds.Samples[1].Label != 0 || filepath.Base(ds.Samples[1].Path) != "2.png" {
		t.Errorf("samples %+v", ds.Samples)
	}
}

func TestCSVErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(s string) string { return writeFile(t, filepath.Join(dir, "m.csv"), []byte(s)) }

	_, err := Open(write("path,label\na.png,cat\nb.png,cat\n"), Options{})
	if !errors.Is(err, ErrClasses) {
		t.Errorf("one class: %v", err)
	}
	_, err = Open(write("path,label\n"), Options{})
	if !errors.Is(err, ErrEmpty) {
		t.Errorf("header only: %v", err)
	}
	_, err = Open(write("a.png,cat\nb.png\n"), Options{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("short row: %v", err)
	}
	_, err = Open(write("a.png,cat\n\"b.png,dog\n"), Options{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "m.csv") {
		t.Errorf("bad quoting: %v", err)
	}
	_, err = Open(write("a.png,cat\nb.png,\n"), Options{})
	if !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), "empty label") {
		t.Errorf("empty label: %v", err)
	}

	csvPath := write("path,label\na.png,cat\nb.png,dog\nc.png,cow\n")
	_, err = Open(csvPath, Options{Classes: []string{"cat", "dog"}})
	if !errors.Is(err, ErrLabel) {
		t.Fatalf("unknown label: %v", err)
	}
	for _, s := range []string{`"cow"`, csvPath + " line 4", `"cat", "dog"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %s", err, s)
		}
	}
}

func TestCSVMissingFileIsBad(t *testing.T) {
	dir := t.TempDir()
	p := pngBytes(t, 2, 2, gray(100))
	writeFile(t, filepath.Join(dir, "a.png"), p)
	writeFile(t, filepath.Join(dir, "c.png"), p)
	csvPath := writeFile(t, filepath.Join(dir, "m.csv"), []byte("a.png,x\nmissing.png,y\nc.png,y\n"))
	ds, err := Open(csvPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.png")
	d, err := Decode(context.Background(), ds, 2, 2, 1, "raw", Skip, 2)
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() != 2 || len(d.Bad) != 1 || d.Bad[0].Path != missing || !strings.Contains(d.Bad[0].Reason, "no such file") {
		t.Errorf("decoded %d, bad %+v", d.Len(), d.Bad)
	}
	if d.Index[1] != 2 || d.Labels[1] != 1 {
		t.Errorf("index %v labels %v", d.Index, d.Labels)
	}
	_, err = Decode(context.Background(), ds, 2, 2, 1, "raw", Fail, 2)
	if !errors.Is(err, ErrBadFile) || !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("fail policy: %v", err)
	}
}
