package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// runStderr is run with stderr (the logs) captured too.
func runStderr(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	f, err := os.Create(filepath.Join(t.TempDir(), "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stderr
	os.Stderr = f
	out, code := run(t, args...)
	os.Stderr = old
	f.Close()
	b, _ := os.ReadFile(f.Name())
	return out, string(b), code
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type evalJSON struct {
	Samples         int
	Accuracy        float64
	Confusion       [][]int
	TrainingOverlap predict.Overlap   `json:"training_overlap"`
	BadFiles        []dataset.BadFile `json:"bad_files"`
}

// eval --split val scores exactly the run's validation files: the same
// confusion matrix as copies of those files under other names, and the
// accuracy the run reported for its best epoch. Data with duplicated
// images keeps every copy on one side of the split, and scoring the
// training data warns with the count.
func TestEvalSplitValAndTrainingOverlap(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 8)
	// One extra copy of the first image of each class: 10 groups, 20 files.
	for c := range 10 {
		files, _ := filepath.Glob(filepath.Join(data, fmt.Sprint(c), "*.png"))
		copyFile(t, files[0], filepath.Join(data, fmt.Sprint(c), "copy.png"))
	}
	runDir := filepath.Join(t.TempDir(), "run")
	if out, code := run(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--head", "conv:16",
		"--epochs", "2", "--seed", "1", "--val-split", "0.3", "--cache-dir", t.TempDir(), "--out", runDir); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	var split rundir.SplitRecord
	var summary train.Summary
	if err := rundir.ReadJSON(runDir, rundir.SplitFile, &split); err != nil {
		t.Fatal(err)
	}
	rundir.ReadJSON(runDir, rundir.SummaryFile, &summary)
	if summary.Duplicates.Groups != 10 || summary.Duplicates.Files != 20 {
		t.Errorf("summary duplicates %+v, want 10 groups of 20 files", summary.Duplicates)
	}
	inTrain := map[string]bool{}
	for _, s := range split.Train {
		inTrain[s.SHA256] = true
	}
	valCopy := t.TempDir()
	for _, s := range split.Val {
		if inTrain[s.SHA256] {
			t.Errorf("validation sample %s is identical to a training sample", s.ID)
		}
		class := filepath.Base(filepath.Dir(s.ID))
		copyFile(t, s.ID, filepath.Join(valCopy, class, "v-"+filepath.Base(s.ID)))
	}
	score := func(args ...string) (evalJSON, string) {
		t.Helper()
		out, logs, code := runStderr(t, append([]string{"eval", "--run", runDir, "--format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d\n%s%s", args, code, out, logs)
		}
		var r evalJSON
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatal(err)
		}
		return r, logs
	}
	val, logs := score("--split", "val")
	copies, _ := score("--data", valCopy)
	if val.Samples != len(split.Val) || val.Samples != summary.ValSamples || !reflect.DeepEqual(val.Confusion, copies.Confusion) {
		t.Errorf("--split val: %d samples, confusion %v; the validation files: %d, confusion %v", val.Samples, val.Confusion, len(split.Val), copies.Confusion)
	}
	if val.Accuracy != summary.BestValAccuracy {
		t.Errorf("--split val accuracy %v, the run's best epoch reported %v", val.Accuracy, summary.BestValAccuracy)
	}
	if val.TrainingOverlap.Samples != 0 || strings.Contains(logs, "byte-identical") {
		t.Errorf("validation overlaps training: %+v\n%s", val.TrainingOverlap, logs)
	}
	all, logs := score("--data", data)
	if all.TrainingOverlap.Samples != len(split.Train) || all.TrainingOverlap.SameFiles != len(split.Train) || all.TrainingOverlap.Of != len(split.Train)+len(split.Val) {
		t.Errorf("scoring the training data: overlap %+v, want %d of %d", all.TrainingOverlap, len(split.Train), len(split.Train)+len(split.Val))
	}
	if want := fmt.Sprintf("%d of %d evaluated samples are byte-identical to training samples", len(split.Train), all.Samples); !strings.Contains(logs, want) {
		t.Errorf("no warning %q in\n%s", want, logs)
	}
	if _, code := run(t, "eval", "--run", runDir, "--split", "val", "--data", data); code == 0 {
		t.Error("--split with --data was accepted")
	}
	// A file removed since the run is a bad file of --split val (issue
	// 22, defect 13): the others are scored, never other samples.
	gone := split.Val[0].ID
	if err := os.Remove(gone); err != nil {
		t.Fatal(err)
	}
	after, _ := score("--split", "val")
	if after.Samples != len(split.Val)-1 || len(after.BadFiles) != 1 || after.BadFiles[0].Path != gone || !strings.Contains(after.BadFiles[0].Reason, "no longer among the data's files") {
		t.Errorf("eval --split val after a file was removed: %d samples, bad files %+v; want %d and %s listed", after.Samples, after.BadFiles, len(split.Val)-1, gone)
	}
	if _, logs, code := runStderr(t, "eval", "--run", runDir, "--split", "val", "--on-bad-file", "fail"); code == 0 || !strings.Contains(logs, gone) {
		t.Errorf("eval --split val --on-bad-file fail after a file was removed: exit %d\n%s", code, logs)
	}
}
