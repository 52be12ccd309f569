package rundir

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/infer/evaluate"
)

// The writer over two epochs, the first the best: last.safetensors
// follows every epoch, best.safetensors the first only, and
// head.safetensors, written once at the end, holds the first epoch's
// weights (two heads of different seeds stand for the two epochs).
func TestWriterKeepsTheBestEpoch(t *testing.T) {
	dir := t.TempDir()
	if err := PrepareNew(dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(dir, ConfigFile, map[string]any{"epochs": 2}); err != nil {
		t.Fatal(err)
	}
	classes := []string{"cat", "dog"}
	ops := head.NewCPUOps()
	spec := head.Spec{Height: 2, Width: 2, Channels: 3, Kind: head.KindConv, Filters: 4, Kernel: 1, Classes: 2}
	opt, err := head.NewOptimizer(head.SGD)
	if err != nil {
		t.Fatal(err)
	}
	var models [2]*head.Model
	var params [2][]float32
	for i := range models {
		if models[i], err = head.New(ops, spec, opt, uint64(i+1)); err != nil {
			t.Fatal(err)
		}
		defer models[i].Close()
		if params[i], err = models[i].Params(); err != nil {
			t.Fatal(err)
		}
	}
	if slices.Equal(params[0], params[1]) {
		t.Fatal("two seeds gave the same parameters: the test cannot tell the epochs apart")
	}
	w, err := NewWriter(dir, classes, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	ms := []Metrics{{Epoch: 1, ValAccuracy: 0.9}, {Epoch: 2, ValAccuracy: 0.5}}
	val := []evaluate.Class{{Name: "cat", Precision: 1, Recall: 0.5}, {Name: "dog", Precision: 0.5, Recall: 1}}
	for e := range 2 {
		if err := w.Epoch(models[e], json.RawMessage(`{"epoch":1}`), e == 0, ms[:e+1], val); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(&api.Summary{Epochs: 2, BestEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file string
		want []float32
	}{{LastCkpt, params[1]}, {BestCkpt, params[0]}, {HeadFile, params[0]}} {
		m, ck, err := head.Load(ops, filepath.Join(dir, c.file))
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.Params()
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, c.want) || !slices.Equal(ck.Classes, classes) {
			t.Errorf("%s: not the expected epoch's head (classes %v)", c.file, ck.Classes)
		}
	}
	got, err := ReadMetrics(dir)
	if err != nil || len(got) != 2 || got[1].Epoch != 2 {
		t.Errorf("metrics.jsonl: %v %v", got, err)
	}
	var s api.Summary
	if err := ReadJSON(dir, SummaryFile, &s); err != nil || s.BestEpoch != 1 {
		t.Errorf("summary.json: %+v %v", s, err)
	}
	if ev, _ := os.ReadDir(filepath.Join(dir, EventsDir)); len(ev) != 1 {
		t.Errorf("%d files in %s, want one events file", len(ev), EventsDir)
	}
}

// A checkpoint that cannot be written fails the epoch and leaves the
// earlier epoch's files as they were: metrics.jsonl keeps one line.
func TestWriterFailedCheckpointKeepsTheEarlierEpoch(t *testing.T) {
	dir := t.TempDir()
	if err := PrepareNew(dir); err != nil {
		t.Fatal(err)
	}
	if err := WriteJSON(dir, ConfigFile, map[string]any{}); err != nil {
		t.Fatal(err)
	}
	full := errors.New("no space left on device")
	calls := 0
	save := func(m *head.Model, path string, classes []string, st json.RawMessage) error {
		if calls++; calls > 1 { // epoch 1's last (best is a link to it), then the disk is full
			return full
		}
		return m.Save(path, classes, st)
	}
	w, err := NewWriter(dir, []string{"a", "b"}, save)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	opt, _ := head.NewOptimizer(head.SGD)
	m, err := head.New(head.NewCPUOps(), head.Spec{Height: 1, Width: 1, Channels: 2, Kind: head.KindConv, Filters: 2, Kernel: 1, Classes: 2}, opt, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ms := []Metrics{{Epoch: 1}, {Epoch: 2}}
	if err := w.Epoch(m, nil, true, ms[:1], nil); err != nil {
		t.Fatal(err)
	}
	err = w.Epoch(m, nil, false, ms, nil)
	if !errors.Is(err, full) || !strings.Contains(err.Error(), "epoch 1's checkpoint is intact") {
		t.Errorf("epoch 2 on a full disk: %v", err)
	}
	if got, _ := ReadMetrics(dir); len(got) != 1 {
		t.Errorf("metrics.jsonl has %d lines after the failed epoch, want 1", len(got))
	}
}
