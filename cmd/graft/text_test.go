package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/data/images/bomb"
	"github.com/graft-ml/graft/internal/infer/evaluate"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// Issue 22, defect 13: class names are whatever folders are called; in
// graft eval's and graft predict's text tables a name with a newline, a
// CR, a tab or a right-to-left override is quoted, so that every row is
// one line and reads left to right. JSON output keeps the names as they
// are.
func TestTextTablesEscapeClassNames(t *testing.T) {
	digits := testmodules.Digits(t, "train", 0, 4)
	names := map[string]string{"1": "new\nline", "2": "cr\rx", "3": "rtl\u202eab", "4": "tab\tx"}
	data := t.TempDir()
	for digit, name := range names {
		if err := os.Rename(filepath.Join(digits, digit), filepath.Join(data, name)); err != nil {
			t.Fatal(err)
		}
	}
	runDir := filepath.Join(t.TempDir(), "run")
	if out, code := run(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--head", "conv:8",
		"--epochs", "1", "--val-split", "0.5", "--cache-dir", "none", "--out", runDir); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	out, code := run(t, "eval", "--run", runDir, "--split", "val")
	// Summary, blank, header, 4 classes, blank, title, header, 4 rows.
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); code != 0 || len(lines) != 14 {
		t.Errorf("eval: exit %d, %d lines; want 14:\n%s", code, len(lines), out)
	}
	img, _ := filepath.Glob(filepath.Join(data, "new\nline", "*.png"))
	pred, code := run(t, "predict", "--run", runDir, "--top", "4", img[0])
	// The image's line, then its 4 classes.
	if lines := strings.Split(strings.TrimSuffix(pred, "\n"), "\n"); code != 0 || len(lines) != 5 {
		t.Errorf("predict: exit %d, %d lines; want 5:\n%s", code, len(lines), pred)
	}
	for _, name := range names {
		for what, text := range map[string]string{"eval": out, "predict": pred} {
			if !strings.Contains(text, strconv.Quote(name)) {
				t.Errorf("%s does not show %q quoted:\n%s", what, name, text)
			}
		}
	}
	if strings.ContainsAny(out+pred, "\r\u202e") {
		t.Errorf("a CR or an override reached the text output:\n%q\n%q", out, pred)
	}
}

// graft eval's text report lists its first bad files with their reasons
// (a path with a newline quoted, one line each), then how many more.
func TestEvalTextListsBadFiles(t *testing.T) {
	var b bytes.Buffer
	a := &app{out: &b}
	bad := []dataset.BadFile{{Path: "/d/a\nb.png", Reason: "images: unusable image: too large: 9x9"}}
	for i := range 11 {
		bad = append(bad, dataset.BadFile{Path: fmt.Sprintf("/d/%d.png", i), Reason: "gone"})
	}
	r := evaluate.Report{Samples: 1, Classes: []evaluate.Class{{Name: "a"}}, Confusion: [][]int{{1}}}
	if err := a.printEval(r, bad); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if !strings.HasSuffix(lines[0], "(12 bad files skipped)") || lines[2] != `  bad file "/d/a\nb.png": images: unusable image: too large: 9x9` ||
		lines[11] != "  bad file /d/8.png: gone" || lines[12] != "  ... and 2 more (--format json lists them all)" {
		t.Errorf("report:\n%s", b.String())
	}
}

// Issue 22, defects 1 and 13: graft train, eval and predict read images
// through the one decode path: an image whose header declares too many
// pixels is a bad file (listed with the limit under skip, the run's error
// under fail), and graft predict answers a bomb, a FIFO (which blocked it
// before), a folder and a missing file each with its own error line.
func TestCLIImageBombsAndOddFiles(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	bombPath := filepath.Join(data, "3", "bomb.png")
	if err := os.WriteFile(bombPath, bomb.PNG(30000, 30000), 0o600); err != nil {
		t.Fatal(err)
	}
	limit := "30000x30000 is 900000000 pixels, over the limit of 40000000 (--max-image-pixels)"
	train := func(policy string) (string, int) {
		_, logs, code := runAll(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--head", "conv:8",
			"--epochs", "1", "--cache-dir", "none", "--on-bad-file", policy, "--out", filepath.Join(t.TempDir(), "run"))
		return logs, code
	}
	if logs, code := train("fail"); code == 0 || !strings.Contains(logs, limit) || !strings.Contains(logs, bombPath) {
		t.Errorf("train --on-bad-file fail: exit %d; want it to fail naming %s and the limit:\n%s", code, bombPath, logs)
	}
	runDir := filepath.Join(t.TempDir(), "run")
	if _, logs, code := runAll(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--head", "conv:8",
		"--epochs", "1", "--cache-dir", "none", "--val-split", "0.5", "--seed", "2", "--out", runDir); code != 0 || !strings.Contains(logs, limit) {
		t.Errorf("train --on-bad-file skip: exit %d; want it to succeed listing the bomb:\n%s", code, logs)
	}
	out, code := run(t, "eval", "--run", runDir, "--data", data, "--format", "json")
	if code != 0 || !strings.Contains(out, bombPath) || !strings.Contains(out, limit) {
		t.Errorf("eval: exit %d; want the bomb listed as a bad file:\n%s", code, out)
	}
	odd := t.TempDir()
	fifo, dir, missing := filepath.Join(odd, "fifo.png"), filepath.Join(odd, "dir.png"), filepath.Join(odd, "missing.png")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(dir, 0o700)
	good, _ := filepath.Glob(filepath.Join(data, "1", "*.png"))
	pred, code := run(t, "predict", "--run", runDir, "--top", "1", good[0], bombPath, fifo, dir, missing)
	for _, want := range []string{bombPath + ": error: " + bombPath + ": " + "images: unusable image: too large: " + limit,
		fifo + ": error: images: not a regular file", dir + ": error: images: not a regular file", missing + ": error: images: "} {
		if !strings.Contains(pred, want) {
			t.Errorf("predict: no %q in\n%s", want, pred)
		}
	}
	if code == 0 || !strings.Contains(pred, good[0]+":\n") {
		t.Errorf("predict: exit %d; want the good image scored and a failure at the end:\n%s", code, pred)
	}
}

func TestCell(t *testing.T) {
	for in, want := range map[string]string{
		"cat": "cat", "é x": "é x", "": "",
		"new\nline": `"new\nline"`, "cr\rx": `"cr\rx"`, "tab\tx": `"tab\tx"`,
		"rtl\u202eab": `"rtl\u202eab"`, "lrm\u200e": `"lrm\u200e"`,
		`"quoted"`: `"\"quoted\""`, "x\xff": `"x\xff"`,
	} {
		if got := cell(in); got != want {
			t.Errorf("cell(%q) = %s, want %s", in, got, want)
		}
	}
}
