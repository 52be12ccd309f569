package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// Representative error texts as a person sees them: each says what went
// wrong once (no "savedmodel: savedmodel:", no path twice), and advice
// that names flags comes as a hint line under it.
func TestErrorTexts(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 2)
	tmp := t.TempDir()
	bad := filepath.Join(tmp, "bad")
	for _, c := range []string{"a", "b"} {
		os.MkdirAll(filepath.Join(bad, c), 0o755)
		os.WriteFile(filepath.Join(bad, c, "x.png"), []byte("\x89PNG cut short"), 0o644)
	}
	used := filepath.Join(tmp, "used")
	os.MkdirAll(used, 0o755)
	os.WriteFile(filepath.Join(used, "notes.txt"), []byte("mine"), 0o644)
	notModel := t.TempDir()
	train := func(extra ...string) []string {
		return append([]string{"train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit",
			"--cache-dir", "none", "--log-level", "error", "--out", filepath.Join(t.TempDir(), "run")}, extra...)
	}
	for _, c := range []struct {
		name string
		args []string
		text string // in the error line
		hint string // in a hint line; "" for none
	}{
		{"unknown tap", train("--tap", "conv2d_9"), `unknown tensor: "conv2d_9"`, "graft inspect --tensors"},
		{"predict unknown tap", []string{"predict", "--model", fashionCNN, "--tap", "conv2d_9", "x.png"}, `unknown tensor: "conv2d_9"`, "graft inspect --tensors"},
		{"not a model", []string{"inspect", notModel}, "not a SavedModel: " + notModel, ""},
		{"wrong tags", []string{"inspect", fashionCNN, "--tags", "gpu"}, "no meta graph with the requested tags", "--tags"},
		{"resume nothing", []string{"train", "--resume", filepath.Join(tmp, "norun")}, filepath.Join(tmp, "norun", "config.json"), "--resume"},
		{"run dir in use", train("--out", used), used + " already holds a run", "--resume " + used},
		{"bad file", train("--data", bad, "--on-bad-file", "fail"), "bad image file", "--on-bad-file skip"},
		{"over budget", train("--memory-budget", "1"), "over the memory budget", "--memory-budget"},
		{"daemon down", []string{"jobs", "ls", "--server", "127.0.0.1:1"}, "no answer from the daemon at http://127.0.0.1:1", "--server"},
		{"export onto a file", []string{"models", "export", "m", "--out", filepath.Join(used, "notes.txt"), "--server", "127.0.0.1:1"}, "file already exists", "(--force)"},
		{"backup onto a file", []string{"admin", "backup", filepath.Join(used, "notes.txt"), "--server", "127.0.0.1:1"}, "file already exists", "(--force)"},
		{"eval no run", []string{"eval", "--run", filepath.Join(tmp, "norun"), "--data", data}, filepath.Join(tmp, "norun", "classes.json"), "the --out folder of graft train"},
		{"predict no run", []string{"predict", "--run", filepath.Join(tmp, "norun"), "x.png"}, filepath.Join(tmp, "norun", "config.json"), filepath.Join(tmp, "norun") + " does not exist: --run takes a run directory, the --out folder of graft train"},
		{"predict not a run", []string{"predict", "--run", used, "x.png"}, filepath.Join(used, "config.json"), used + " holds no run: --run takes a run directory"},
		{"export no run", []string{"export", "--run", filepath.Join(tmp, "norun"), "--out", filepath.Join(tmp, "export")}, "norun", "--out RUN"},
		{"missing data", train("--data", filepath.Join(tmp, "nodata")), filepath.Join(tmp, "nodata"), ""},
	} {
		_, stderr, code := runAll(t, c.args...)
		lines := strings.Split(strings.TrimSpace(stderr), "\n")
		var errLine string
		var hints []string
		for _, l := range lines {
			switch {
			case strings.HasPrefix(l, "graft: "):
				errLine = l
			case strings.HasPrefix(l, "  hint: "):
				hints = append(hints, l)
			}
		}
		if code == 0 || !strings.Contains(errLine, c.text) {
			t.Errorf("%s: exit %d, error %q, want %q in it\n%s", c.name, code, errLine, c.text, stderr)
			continue
		}
		if c.hint != "" && !strings.Contains(strings.Join(hints, "\n"), c.hint) {
			t.Errorf("%s: no hint with %q: %q", c.name, c.hint, hints)
		}
		if strings.Contains(errLine, " --") {
			t.Errorf("%s: flag advice in the error line rather than a hint: %q", c.name, errLine)
		}
		if d := doubled(errLine); d != "" {
			t.Errorf("%s: %q said twice in %q", c.name, d, errLine)
		}
	}
}

// doubled returns a package prefix or a path that the text repeats.
func doubled(s string) string {
	if m := regexp.MustCompile(`^(\w+): (\w+)\b`).FindStringSubmatch(s); m != nil && m[1] == m[2] {
		return m[1] // "graft: graft serve ..."
	}
	seen := map[string]bool{}
	for _, p := range regexp.MustCompile(`(?:^|\s)([a-z][a-z-]*):`).FindAllStringSubmatch(s, -1) {
		if seen[p[1]] {
			return p[1] + ":"
		}
		seen[p[1]] = true
	}
	for _, p := range regexp.MustCompile(`/[^\s:"',()]+`).FindAllString(s, -1) {
		if seen[p] {
			return p
		}
		seen[p] = true
	}
	return ""
}

func TestDoubled(t *testing.T) {
	for s, want := range map[string]string{
		"graft: savedmodel: savedmodel: unknown tensor":                                                 "savedmodel:",
		"graft: graft serve at x: y":                                                                    "graft",
		"graft: train: resume /r: train: run directory: open /r/config.json":                            "train:",
		"graft: train: run directory: open /r/config.json: no such file":                                "",
		"graft: dataset: bad image file: /d/a.png: images: unusable image: is it a PNG, /d/a.png again": "/d/a.png",
	} {
		if got := doubled(s); got != want {
			t.Errorf("doubled(%q) = %q, want %q", s, got, want)
		}
	}
}

// A tap that is no feature map is refused before any feature is extracted
// (once it was after all of them), for a conv head and a linear probe
// alike, with the feature maps to tap instead; no run folder is left.
func TestWrongRankTapRefusedFirst(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 2)
	for _, c := range []struct {
		name, model, tap, head, hint string
	}{
		{"pooled, conv head", fashionCNN, "global_average_pooling2d", "conv:8", "--tap conv2d_2 [7 7 64], --tap conv2d_1 [14 14 32], --tap conv2d [28 28 16]"},
		{"logits, linear probe", fashionCNN, "dense", "linear", "--tap conv2d_2 [7 7 64]"},
		{"tf1 nested keras", testmodules.KerasTF1Nested(t, true), "global_average_pooling2d", "conv:8", "--tap out_relu [4 4 32], --tap Conv1_relu [8 8 8]"},
	} {
		out := filepath.Join(t.TempDir(), "run")
		_, stderr, code := runAll(t, "train", "--backbone", c.model, "--tap", c.tap, "--head", c.head, "--data", data, "--preprocess", "unit",
			"--cache-dir", "none", "--log-format", "json", "--out", out)
		if code == 0 || !strings.Contains(stderr, "the head needs a feature map [H W C]") || !strings.Contains(stderr, "  hint: ") || !strings.Contains(stderr, c.hint) {
			t.Errorf("%s: exit %d, want the feature maps to tap (%s):\n%s", c.name, code, c.hint, stderr)
		}
		if strings.Contains(stderr, `"computed"`) || strings.Contains(stderr, `"features"`) {
			t.Errorf("%s: features were extracted before the refusal:\n%s", c.name, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%s: the refused run left %s", c.name, out)
		}
	}
}
