package dataset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFolder(t *testing.T) {
	root := t.TempDir()
	p := pngBytes(t, 4, 3, gray(10))
	j := jpegBytes(t, 4, 3, gray(200))
	writeFile(t, filepath.Join(root, "dog", "b.png"), p)
	writeFile(t, filepath.Join(root, "dog", "a.JPG"), j)
	writeFile(t, filepath.Join(root, "dog", "sub", "c.jpeg"), j)
	writeFile(t, filepath.Join(root, "dog", ".hidden.png"), p)
	writeFile(t, filepath.Join(root, "dog", ".thumbs", "x.png"), p)
	writeFile(t, filepath.Join(root, "dog", "notes.txt"), []byte("hi"))
	writeFile(t, filepath.Join(root, "cat", "z.Png"), p)
	writeFile(t, filepath.Join(root, ".git", "HEAD"), []byte("x"))
	writeFile(t, filepath.Join(root, "README"), []byte("x"))
	writeFile(t, filepath.Join(root, "stray.png"), p)

	ds, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Kind != KindFolder || strings.Join(ds.Classes, ",") != "cat,dog" {
		t.Fatalf("kind %s classes %v", ds.Kind, ds.Classes)
	}
	want := []struct {
		rel   string
		label int
	}{{"cat/z.Png", 0}, {"dog/a.JPG", 1}, {"dog/b.png", 1}, {"dog/sub/c.jpeg", 1}}
	if len(ds.Samples) != len(want) {
		t.Fatalf("samples %+v", ds.Samples)
	}
	for i, w := range want {
		s := ds.Samples[i]
		if s.ID != filepath.Join(root, w.rel) || s.Path != s.ID || s.Label != w.label || s.Record != -1 {
			t.Errorf("sample %d = %+v, want %s label %d", i, s, w.rel, w.label)
		}
	}
	var ignored []string
	for _, f := range ds.Ignored {
		rel, _ := filepath.Rel(root, f.Path)
		ignored = append(ignored, rel)
	}
	if got := strings.Join(ignored, ","); got != "README,stray.png,dog/.hidden.png,dog/notes.txt" {
		t.Errorf("ignored %q", got)
	}
	want1 := "skipped 4 files of " + root + " that are no class images (1 not a class sub-folder, 1 image outside a class sub-folder, 1 hidden file, 1 not a .png, .jpg or .jpeg file): " +
		filepath.Join(root, "README") + ", " + filepath.Join(root, "stray.png") + ", " + filepath.Join(root, "dog", ".hidden.png") + ", ..."
	if got := ds.IgnoredSummary(); got != want1 {
		t.Errorf("summary %q\nwant    %q", got, want1)
	}
	b, err := ds.Samples[2].Encoded()
	if err != nil || string(b) != string(p) {
		t.Errorf("Encoded: %v (%d bytes)", err, len(b))
	}
	if got := ds.Counts(); got[0] != 1 || got[1] != 3 {
		t.Errorf("counts %v", got)
	}
}

func TestFolderErrors(t *testing.T) {
	p := pngBytes(t, 2, 2, gray(1))

	empty := t.TempDir()
	if _, err := Open(empty, Options{}); !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), empty) {
		t.Errorf("empty folder: %v", err)
	}

	one := t.TempDir()
	writeFile(t, filepath.Join(one, "only", "a.png"), p)
	if _, err := Open(one, Options{}); !errors.Is(err, ErrClasses) || !strings.Contains(err.Error(), `"only"`) {
		t.Errorf("one class: %v", err)
	}

	stray := t.TempDir()
	writeFile(t, filepath.Join(stray, "a.png"), p)
	if _, err := Open(stray, Options{}); !errors.Is(err, ErrClasses) || !strings.Contains(err.Error(), "sub-folder") {
		t.Errorf("images without classes: %v", err)
	}

	emptyClass := t.TempDir()
	writeFile(t, filepath.Join(emptyClass, "a", "1.png"), p)
	writeFile(t, filepath.Join(emptyClass, "b", "notes.txt"), p)
	if _, err := Open(emptyClass, Options{}); !errors.Is(err, ErrClasses) || !strings.Contains(err.Error(), filepath.Join(emptyClass, "b")) {
		t.Errorf("empty class: %v", err)
	}

	noImages := t.TempDir()
	writeFile(t, filepath.Join(noImages, "x.txt"), p)
	if _, err := Open(noImages, Options{}); !errors.Is(err, ErrEmpty) {
		t.Errorf("no images: %v", err)
	}

	if _, err := Open(filepath.Join(empty, "nope"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing path: %v", err)
	}
	other := writeFile(t, filepath.Join(empty, "data.txt"), []byte("not data at all"))
	if _, err := Open(other, Options{}); !errors.Is(err, ErrSource) {
		t.Errorf("text file: %v", err)
	}
}

func TestFolderImposedClasses(t *testing.T) {
	p := pngBytes(t, 2, 2, gray(1))
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "dog", "1.png"), p)
	classes := []string{"bird", "cat", "dog"}
	ds, err := Open(root, Options{Classes: classes})
	if err != nil {
		t.Fatal(err) // one class present is fine for an evaluation set
	}
	if strings.Join(ds.Classes, ",") != "bird,cat,dog" || ds.Samples[0].Label != 2 {
		t.Fatalf("classes %v label %d", ds.Classes, ds.Samples[0].Label)
	}
	bal := ds.Balance()
	if bal.Warning == "" || bal.Ratio != 0 {
		t.Errorf("empty classes not reported: %+v", bal)
	}

	writeFile(t, filepath.Join(root, "fish", "1.png"), p)
	_, err = Open(root, Options{Classes: classes})
	if !errors.Is(err, ErrLabel) {
		t.Fatalf("unknown class folder: %v", err)
	}
	for _, s := range []string{`"fish"`, filepath.Join(root, "fish"), `"bird", "cat", "dog"`} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q lacks %s", err, s)
		}
	}
	if _, err := Open(root, Options{Classes: []string{"a", "a"}}); !errors.Is(err, ErrArgument) {
		t.Errorf("duplicate imposed class: %v", err)
	}
}

func TestBalance(t *testing.T) {
	mk := func(counts ...int) *Dataset {
		ds := &Dataset{}
		for c, n := range counts {
			ds.Classes = append(ds.Classes, string(rune('a'+c)))
			for range n {
				ds.Samples = append(ds.Samples, Sample{Label: c})
			}
		}
		return ds
	}
	b := mk(3, 9, 5).Balance()
	if b.Warning != "" || b.Ratio != 3 || b.Counts[1] != (ClassCount{"b", 9}) {
		t.Errorf("3x is not imbalance: %+v", b)
	}
	b = mk(2, 7).Balance()
	if b.Ratio != 3.5 || !strings.Contains(b.Warning, `"b" has 7`) || !strings.Contains(b.Warning, `"a" only 2`) {
		t.Errorf("3.5x: %+v", b)
	}
}

func TestSlice(t *testing.T) {
	ds := &Dataset{Classes: []string{"a", "b"}, Samples: []Sample{{ID: "0"}, {ID: "1"}, {ID: "2", Label: 1}}}
	s := ds.Slice(1, 10)
	if s.Len() != 2 || s.Samples[0].ID != "1" || len(s.Classes) != 2 {
		t.Errorf("slice %+v", s)
	}
	if ds.Slice(5, 2).Len() != 0 || ds.Slice(-1, 1).Len() != 1 {
		t.Error("clamping")
	}
}

func TestRootsConfineEveryFile(t *testing.T) {
	inside, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret.png")
	writeFile(t, secret, pngBytes(t, 2, 2, gray(1)))
	data := filepath.Join(inside, "data")
	for _, c := range []string{"a", "b"} {
		writeFile(t, filepath.Join(data, c, "ok.png"), pngBytes(t, 2, 2, gray(2)))
	}
	roots := []string{mustEval(t, inside)}
	if _, err := Open(data, Options{Roots: roots}); err != nil {
		t.Fatalf("data inside the roots: %v", err)
	}

	// A symlinked image pointing outside.
	os.Symlink(secret, filepath.Join(data, "a", "link.png"))
	if _, err := Open(data, Options{Roots: roots}); !errors.Is(err, ErrOutsideRoots) || !strings.Contains(err.Error(), "link.png") {
		t.Errorf("symlink escape: %v", err)
	}
	os.Remove(filepath.Join(data, "a", "link.png"))

	// A CSV inside naming a file outside, by absolute path and by "..".
	for _, p := range []string{secret, filepath.Join("..", "..", filepath.Base(outside), "secret.png")} {
		csv := filepath.Join(data, "m.csv")
		os.WriteFile(csv, []byte("a/ok.png,a\nb/ok.png,b\n"+p+",a\n"), 0o644)
		if _, err := Open(csv, Options{Roots: roots}); !errors.Is(err, ErrOutsideRoots) {
			t.Errorf("CSV naming %s: %v", p, err)
		}
	}
	// The data path itself.
	if _, err := Open(outside, Options{Roots: roots}); !errors.Is(err, ErrOutsideRoots) {
		t.Errorf("data outside: %v", err)
	}
}

func mustEval(t *testing.T, p string) string {
	t.Helper()
	r, err := filepath.EvalSymlinks(p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
