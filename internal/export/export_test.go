package export

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// trainedRun trains a small run on a private copy of the fashion_cnn
// fixture, so that a test may change the backbone afterwards.
func trainedRun(t *testing.T) (run, backbone string) {
	t.Helper()
	backbone = filepath.Join(t.TempDir(), "backbone")
	testmodules.CopyTree(t, "../../testdata/models/fashion_cnn", backbone)
	cfg := train.Config{Backbone: backbone, Tap: "conv2d_2", Data: testmodules.Digits(t, "train", 0, 3), Preprocess: "unit",
		Head: "linear", Epochs: 1, BatchSize: 8, Seed: 1, CacheDir: "none", Out: filepath.Join(t.TempDir(), "run")}
	if _, err := train.Run(context.Background(), cfg, train.Options{}); err != nil {
		t.Fatal(err)
	}
	return cfg.Out, backbone
}

func TestExportWritesBothSignatures(t *testing.T) {
	run, _ := trainedRun(t)
	out := filepath.Join(t.TempDir(), "export")
	if err := Run(run, out); err != nil {
		t.Fatal(err)
	}
	m, err := savedmodel.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	for key, in := range map[string]string{SigImages: "images float32 [-1 28 28 1]", SigBytes: "image_bytes string [-1]"} {
		s, err := m.Signature(key)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range s.Outputs {
			got = append(got, o.Key+" "+o.DType.String())
		}
		i := s.Inputs[0]
		if have := fmt.Sprint(i.Key, " ", i.DType, " ", i.Shape); have != in {
			t.Errorf("%s input %q, want %q", key, have, in)
		}
		if strings.Join(got, ", ") != "classes string, probabilities float32" {
			t.Errorf("%s outputs %v", key, got)
		}
	}
	classes, ok := Exported(out, nil, SigImages)
	if !ok || strings.Join(classes, "") != "0123456789" {
		t.Errorf("Exported: %v %v", classes, ok)
	}
}

// TestExportRefuses: each bad input gets its error and advice, and no
// output folder (nor a temporary one) is left behind.
func TestExportRefuses(t *testing.T) {
	run, backbone := trainedRun(t)
	cases := []struct {
		name   string
		break_ func(t *testing.T, run, out string) string // returns the run to export
		is     error
		text   string
		advice string
	}{
		{"output exists", func(t *testing.T, run, out string) string {
			os.Mkdir(out, 0o755)
			return run
		}, os.ErrExist, "export", "does not exist yet"},
		{"unfinished run", func(t *testing.T, run, out string) string {
			c := filepath.Join(t.TempDir(), "run")
			testmodules.CopyTree(t, run, c)
			os.Remove(filepath.Join(c, rundir.SummaryFile))
			os.Remove(filepath.Join(c, rundir.HeadFile))
			return c
		}, ErrRun, "has not finished", "graft train --resume"},
		{"no head", func(t *testing.T, run, out string) string {
			c := filepath.Join(t.TempDir(), "run")
			testmodules.CopyTree(t, run, c)
			os.Remove(filepath.Join(c, rundir.HeadFile))
			return c
		}, ErrRun, "head.safetensors", "graft train --resume"},
		{"backbone changed", func(t *testing.T, run, out string) string {
			os.MkdirAll(filepath.Join(backbone, "assets"), 0o755)
			if err := os.WriteFile(filepath.Join(backbone, "assets", "vocab.txt"), []byte("new\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return run
		}, ErrRun, "changed since", "restore the backbone"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent := t.TempDir()
			out := filepath.Join(parent, "export")
			r := c.break_(t, run, out)
			before, _ := os.ReadDir(parent)
			err := Run(r, out)
			if !errors.Is(err, c.is) || !strings.Contains(err.Error(), c.text) || !strings.Contains(strings.Join(hint.All(err), "\n"), c.advice) {
				t.Fatalf("error %v (hints %v), want %v with %q and advice %q", err, hint.All(err), c.is, c.text, c.advice)
			}
			if after, _ := os.ReadDir(parent); len(after) != len(before) {
				t.Errorf("left behind: %v", after)
			}
		})
	}
}
