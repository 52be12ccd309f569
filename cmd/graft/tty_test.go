package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/testkit/ptytest"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// runOnTerminal runs the CLI with stderr on a pseudo-terminal and returns
// what a person would have seen there.
func runOnTerminal(t *testing.T, args ...string) (string, int) {
	t.Helper()
	master, tty := ptytest.Open(t)
	var seen bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&seen, master); close(done) }() // ends when tty closes (EIO)
	old := os.Stderr
	os.Stderr = tty
	_, code := run(t, args...)
	os.Stderr = old
	tty.Close()
	<-done
	master.Close()
	return seen.String(), code
}

// screenLines is the terminal's text as lines: a carriage return starts
// the line over, as the bars use it.
func screenLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") {
		if i := strings.LastIndex(l, "\r"); i >= 0 {
			l = l[i+1:]
		}
		out = append(out, strings.TrimPrefix(l, "\033[K"))
	}
	return out
}

// On a terminal each epoch is one line (the bar's), not also a log line,
// and feature extraction shows a bar with images/s and ETA. With
// --log-format json the epochs stay JSON lines.
func TestTerminalOutput(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 10)
	args := func(out string) []string {
		return []string{"train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit", "--head", "conv:8",
			"--epochs", "2", "--cache-dir", "none", "--out", filepath.Join(t.TempDir(), out)}
	}
	seen, code := runOnTerminal(t, args("run")...)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, seen)
	}
	for e := 1; e <= 2; e++ {
		n := 0
		for _, l := range screenLines(seen) {
			if strings.Contains(l, fmt.Sprintf("epoch %d/2", e)) || regexp.MustCompile(fmt.Sprintf(`\bepoch\b.*"epoch": %d\b`, e)).MatchString(l) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("epoch %d is on %d lines of the terminal, want 1:\n%s", e, n, strings.Join(screenLines(seen), "\n"))
		}
	}
	if n := strings.Count(seen, "best epoch"); n != 1 {
		t.Errorf("the best epoch is said %d times on the terminal, want once:\n%s", n, seen)
	}
	if !regexp.MustCompile(`train features \[=+\] \d+/\d+ images  [0-9.]+ images/s  ETA `).MatchString(seen) {
		t.Errorf("no extraction bar with images/s and ETA on the terminal:\n%q", seen)
	}

	seen, code = runOnTerminal(t, append(args("json"), "--log-format", "json")...)
	if code != 0 || strings.Count(seen, `"msg":"epoch"`) != 2 {
		t.Errorf("--log-format json on a terminal: exit %d, want two JSON epoch lines:\n%s", code, seen)
	}
}

// graft eval extracts features too: on a terminal it shows the same bar.
func TestEvalTerminalBar(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	test := testmodules.Digits(t, "t10k", 0, 6)
	out := filepath.Join(t.TempDir(), "run")
	if _, code := run(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit", "--head", "conv:8",
		"--epochs", "1", "--cache-dir", "none", "--out", out); code != 0 {
		t.Fatalf("train exit %d", code)
	}
	seen, code := runOnTerminal(t, "eval", "--run", out, "--data", test)
	if code != 0 {
		t.Fatalf("eval exit %d\n%s", code, seen)
	}
	if !regexp.MustCompile(`eval features \[=+\] \d+/\d+ images  [0-9.]+ images/s`).MatchString(seen) {
		t.Errorf("no extraction bar on eval's terminal:\n%q", seen)
	}
}

// On a terminal a warning never runs on from a bar's line: a bad image
// reported at the end of extraction (the bar still drawn) clears the bar's
// line first. Files in the class folders that are no images are counted
// in one line.
func TestWarningsClearTheBar(t *testing.T) {
	data := t.TempDir()
	testmodules.CopyTree(t, testmodules.Digits(t, "train", 0, 4), data)
	os.WriteFile(filepath.Join(data, "3", "broken.png"), []byte("\x89PNG cut short"), 0o644)
	os.WriteFile(filepath.Join(data, "0", "notes.txt"), []byte("mine"), 0o644)
	os.WriteFile(filepath.Join(data, "1", ".DS_Store"), []byte{0, 0, 0, 1}, 0o644)
	os.WriteFile(filepath.Join(data, "2", "Thumbs.db"), []byte{0xd0, 0xcf}, 0o644)
	seen, code := runOnTerminal(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit", "--head", "conv:8",
		"--epochs", "1", "--cache-dir", "none", "--out", filepath.Join(t.TempDir(), "run"))
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, seen)
	}
	lines := screenLines(seen)
	warned, skipped := 0, 0
	for _, l := range lines {
		if strings.Contains(l, "broken.png") {
			warned++
			if strings.Contains(l, "features [") || strings.Contains(l, "epoch 1/1 [") {
				t.Errorf("a warning on a bar's line: %q", l)
			}
		}
		if strings.Contains(l, "skipped 3 files of "+data+" that are no class images (2 not a .png, .jpg or .jpeg file, 1 hidden file)") {
			skipped++
		}
	}
	if warned == 0 || skipped != 1 {
		t.Errorf("the bad file is on %d lines (want some), the skipped files on %d (want 1):\n%s", warned, skipped, strings.Join(lines, "\n"))
	}
	// An error that stops the run under a bar starts a line of its own.
	seen, code = runOnTerminal(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit", "--on-bad-file", "fail",
		"--cache-dir", "none", "--out", filepath.Join(t.TempDir(), "run"))
	if !strings.Contains(seen, "features [") || !slices.ContainsFunc(screenLines(seen), func(l string) bool { return strings.HasPrefix(l, "graft: ") }) {
		t.Errorf("exit %d: want a bar, then the error at the start of a line:\n%q", code, seen)
	}
}

// runStdoutOnTerminal runs the CLI with stdout on a pseudo-terminal and
// returns what a person would have seen there.
func runStdoutOnTerminal(t *testing.T, args ...string) (string, int) {
	t.Helper()
	master, tty := ptytest.Open(t)
	var seen bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&seen, master); close(done) }()
	old := os.Stdout
	os.Stdout = tty
	code := execute(args)
	os.Stdout = old
	tty.Close()
	<-done
	master.Close()
	return seen.String(), code
}

// graft jobs logs on a terminal shows a daemon job's progress as graft
// train does (the extraction bar, one line per epoch, the best epoch) and
// the daemon's events as lines; elsewhere, JSON lines.
func TestJobsLogsOnTerminal(t *testing.T) {
	root, _ := filepath.Abs("../../testdata")
	data := testmodules.Digits(t, "train", 0, 3)
	server := serveInProcess(t, daemon.Options{DataDir: t.TempDir(), AllowRoots: []string{root, data}, WorkerPath: graftStandIn(t), MaxAttempts: 1,
		Log: zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))})

	spec := filepath.Join(t.TempDir(), "spec.json")
	os.WriteFile(spec, []byte(`{"backbone": "`+filepath.Join(root, "models", "fashion_cnn")+`", "tap": "conv2d_2", "data": "`+data+`", "preprocess": "unit", "head": "conv:8", "epochs": 2}`), 0o644)
	out, code := run(t, "jobs", "submit", spec, server)
	id := strings.TrimSpace(out)
	if code != 0 {
		t.Fatalf("jobs submit: exit %d\n%s", code, out)
	}
	seen, code := runStdoutOnTerminal(t, "jobs", "logs", "-f", id, server)
	lines := screenLines(seen)
	has := func(re string) bool {
		return slices.ContainsFunc(lines, regexp.MustCompile(re).MatchString)
	}
	if !regexp.MustCompile(`train features \[=+\] \d+/\d+ images  [0-9.]+ images/s  ETA `).MatchString(seen) {
		t.Errorf("no extraction bar with images/s and ETA on the terminal:\n%q", seen)
	}
	for _, re := range []string{`^\d\d:\d\d:\d\d queued$`, `^train features: 20 samples`, `^val features: 10 samples`,
		`^epoch 1/2  loss [0-9.]+  acc`, `^epoch 2/2  loss [0-9.]+  acc`, `^done: `, `succeeded$`} {
		if !has(re) {
			t.Errorf("no line matches %s on the terminal:\n%s", re, strings.Join(lines, "\n"))
		}
	}
	if code != 0 || strings.Contains(seen, `"seq"`) {
		t.Errorf("jobs logs -f on a terminal: exit %d, want bars and lines, no JSON:\n%s", code, strings.Join(lines, "\n"))
	}
	out, code = run(t, "jobs", "logs", id, server)
	if code != 0 || !strings.Contains(out, `"type":"epoch"`) || !strings.HasPrefix(out, `{"seq":`) {
		t.Errorf("jobs logs to a file: exit %d, want JSON lines:\n%s", code, out)
	}
}
