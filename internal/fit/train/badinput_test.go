package train

import (
	"context"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
	"github.com/graft-ml/graft/internal/util/tfrecord"
)

func writeImage(t *testing.T, path string, img image.Image, asJPEG bool) []byte {
	t.Helper()
	os.MkdirAll(filepath.Dir(path), 0o755)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if asJPEG {
		err = jpeg.Encode(f, img, nil)
	} else {
		err = png.Encode(f, img)
	}
	if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	return b
}

func gray(v uint8) image.Image {
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range img.Pix {
		img.Pix[i] = v
	}
	return img
}

// TestBadInputs runs whole jobs on broken data and checks that each fails
// (or skips) with a message that says what is wrong.
func TestBadInputs(t *testing.T) {
	good := testmodules.Digits(t, "train", 0, 3)
	run := func(cfg Config) error {
		_, err := Run(context.Background(), cfg, Options{})
		return err
	}

	empty := t.TempDir()
	if err := run(smallConfig(t, empty, 1)); !errors.Is(err, dataset.ErrEmpty) {
		t.Errorf("empty folder: %v", err)
	}
	one := t.TempDir()
	writeImage(t, filepath.Join(one, "only", "a.png"), gray(9), false)
	if err := run(smallConfig(t, one, 1)); !errors.Is(err, dataset.ErrClasses) {
		t.Errorf("one class: %v", err)
	}

	csv := filepath.Join(t.TempDir(), "val.csv")
	writeImage(t, filepath.Join(filepath.Dir(csv), "x.png"), gray(1), false)
	os.WriteFile(csv, []byte("path,label\nx.png,11\n"), 0o644)
	cfg := smallConfig(t, good, 1)
	cfg.Val = csv
	if err := run(cfg); !errors.Is(err, dataset.ErrLabel) || !strings.Contains(err.Error(), "11") {
		t.Errorf("unknown CSV label: %v", err)
	}

	cfg = smallConfig(t, good, 1)
	cfg.Tap = "conv2d_22"
	if err := run(cfg); !errors.Is(err, savedmodel.ErrUnknownTensor) || !strings.Contains(err.Error(), "conv2d_2") {
		t.Errorf("missing tap: %v", err)
	}
	// Issue 10: the failed setup left no run directory, so the same
	// command with the right tap creates the run.
	if _, err := os.Stat(cfg.Out); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the failed setup left %s behind (%v)", cfg.Out, err)
	}
	cfg.Tap = "conv2d_2"
	if err := run(cfg); err != nil {
		t.Errorf("the retry with the right tap: %v", err)
	}

	// Corrupt JPEG, a translucent PNG and a PNG claiming 0x0 pixels:
	// skipped and counted by default, fatal with --on-bad-file fail.
	broken := testmodules.Digits(t, "train", 100, 3)
	jpg := writeImage(t, filepath.Join(broken, "3", "cut.jpg"), gray(50), true)
	os.WriteFile(filepath.Join(broken, "3", "cut.jpg"), jpg[:len(jpg)/2], 0o644)
	alpha := image.NewNRGBA(image.Rect(0, 0, 28, 28))
	alpha.Set(3, 3, color.NRGBA{R: 200, A: 100})
	writeImage(t, filepath.Join(broken, "4", "alpha.png"), alpha, false)
	tiny := writeImage(t, filepath.Join(broken, "5", "empty.png"), gray(0), false)
	copy(tiny[16:24], make([]byte, 8)) // IHDR width and height = 0
	os.WriteFile(filepath.Join(broken, "5", "empty.png"), tiny, 0o644)
	s, err := Run(context.Background(), smallConfig(t, broken, 1), Options{})
	if err != nil || s.BadFiles != 3 {
		t.Errorf("bad files skipped: %v, %d counted, want 3", err, s.BadFiles)
	}
	aug := smallConfig(t, broken, 1)
	aug.Augment, aug.Views = "flip", 3 // a bad image is bad in each of its views: listed once
	if s, err := Run(context.Background(), aug, Options{}); err != nil || s.BadFiles != 3 {
		t.Errorf("bad files skipped with views: %v, %d counted, want 3", err, s.BadFiles)
	}
	cfg = smallConfig(t, broken, 1)
	cfg.OnBadFile = "fail"
	if err := run(cfg); !errors.Is(err, dataset.ErrBadFile) || !strings.Contains(err.Error(), broken) {
		t.Errorf("--on-bad-file fail: %v", err)
	}

	// A TFRecord cut short.
	rec := filepath.Join(t.TempDir(), "data.tfrecord")
	f, _ := os.Create(rec)
	w := tfrecord.NewWriter(f)
	for i := 0; i < 4; i++ {
		b := writeImage(t, filepath.Join(t.TempDir(), "i.png"), gray(uint8(40*i)), false)
		w.Write(dataset.EncodeExample(b, int64(i%2), ""))
	}
	f.Close()
	raw, _ := os.ReadFile(rec)
	os.WriteFile(rec, raw[:len(raw)-7], 0o644)
	if err := run(smallConfig(t, rec, 1)); !errors.Is(err, tfrecord.ErrCorrupt) || !strings.Contains(err.Error(), rec) {
		t.Errorf("truncated TFRecord: %v", err)
	}
}

// TestDataCheckedFirst: a missing or empty data folder fails before the
// backbone loads (its path here is not a model at all, so loading it
// first would fail with a savedmodel error) and leaves no run directory.
func TestDataCheckedFirst(t *testing.T) {
	for name, data := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "nothing"),
		"empty":   t.TempDir(),
	} {
		cfg := smallConfig(t, data, 1)
		cfg.Backbone = t.TempDir()
		_, err := Run(context.Background(), cfg, Options{})
		if err == nil || errors.Is(err, savedmodel.ErrNotSavedModel) || !strings.Contains(err.Error(), data) {
			t.Errorf("%s data: want the data's error, got %v", name, err)
		}
		if _, err := os.Stat(cfg.Out); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s data: the failed job left %s behind (%v)", name, cfg.Out, err)
		}
	}
}
