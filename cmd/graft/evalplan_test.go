package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/tensor"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// loggedBatch is the batch of the "extraction plan" log line in logs
// (JSON lines); 0 when there is none.
func loggedBatch(t *testing.T, logs string) int {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var l struct {
			Msg   string
			Batch int
		}
		if json.Unmarshal(sc.Bytes(), &l) == nil && l.Msg == "extraction plan" {
			return l.Batch
		}
	}
	return 0
}

// eval and predict --run size their backbone batches from the memory
// budget as train does (issue 29, item 4): a small --memory-budget gives
// a smaller batch than the run's own budget, and the features and
// probabilities are those of the unbatched path (each image alone
// through the backbone, then the head) within float tolerance.
func TestEvalAndPredictBatchFollowTheBudget(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	runDir := filepath.Join(t.TempDir(), "run")
	if out, code := run(t, "train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--head", "conv:16",
		"--epochs", "1", "--seed", "1", "--val-split", "0.25", "--cache-dir", "none", "--out", runDir); code != 0 {
		t.Fatalf("train: exit %d\n%s", code, out)
	}
	tr, err := predict.LoadRun(runDir)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	ds, err := dataset.Open(data, dataset.Options{Classes: tr.Classes})
	if err != nil {
		t.Fatal(err)
	}
	n := ds.Len()
	// The run's default budget (4 GiB) fits every image of this small
	// CNN in one batch; a budget whose half-eighth holds about 5 images'
	// working sets must give fewer.
	whole := tr.Plan(n, nil)
	if whole.Batch != n {
		t.Fatalf("the run's budget: batch %d, want all %d images", whole.Batch, n)
	}
	// One image's working set, read back from a plan of one image:
	// Bytes = Fixed + batch*perImage + chunk*4*pixels.
	in := tr.Backbone.Input().Shape
	tr.MemoryBudget = 1 << 40
	one := tr.Plan(1, nil)
	perImage := one.Bytes - one.Fixed - int64(4*in[1]*in[2]*in[3])
	small := 16 * 5 * perImage // features.Share's eighth, half of it for the backbone's run
	tr.MemoryBudget = small
	p := tr.Plan(n, nil)
	if p.Batch != 5 || p.Chunk%p.Batch != 0 {
		t.Fatalf("budget %d (5 working sets of %d bytes in its half-eighth): plan %+v, want batch 5", small, perImage, p)
	}

	// The oracle: each image alone through the backbone.
	paths := make([]string, n)
	for i, s := range ds.Samples {
		paths[i] = s.ID
	}
	alone, err := predict.Images(context.Background(), predict.FromBackbone(tr.Backbone), paths, tr.Config.Preprocess, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The batches the extraction really runs (the wrapper also takes
	// the plan through the prepared graph, the TensorFlow engine's way).
	rec := &batchRecorder{Backbone: tr.Backbone}
	tr.Backbone = rec
	set, _, err := tr.Features(context.Background(), ds, dataset.Fail, nil, nil)
	tr.Backbone = rec.Backbone
	if err != nil {
		t.Fatal(err)
	}
	if rec.largest != 5 {
		t.Errorf("budget %d: the backbone ran batches of up to %d images, want 5", small, rec.largest)
	}
	for i, r := range alone {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		j := indexOf(set.IDs, r.Input)
		row := set.Features[j*set.Size : (j+1)*set.Size]
		for k := range row {
			if d := math.Abs(float64(row[k] - r.Output[k])); d > 1e-5*(1+math.Abs(float64(r.Output[k]))) {
				t.Fatalf("image %d (%s), float %d: %v at batch %d, %v alone", i, r.Input, k, row[k], p.Batch, r.Output[k])
			}
		}
	}

	// The commands: the batch they log follows --memory-budget, and
	// their results are the unbatched ones.
	budget := fmt.Sprint(small)
	evalOut := func(args ...string) (string, int) {
		t.Helper()
		out, logs, code := runStderr(t, append([]string{"eval", "--run", runDir, "--data", data, "--format", "json", "--log-format", "json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %v: exit %d\n%s%s", args, code, out, logs)
		}
		return out, loggedBatch(t, logs)
	}
	def, b := evalOut()
	if b != n {
		t.Errorf("eval at the run's budget logged batch %d, want %d", b, n)
	}
	got, b := evalOut("--memory-budget", budget)
	if b != 5 {
		t.Errorf("eval --memory-budget %s logged batch %d, want 5", budget, b)
	}
	if got != def {
		t.Errorf("eval --memory-budget %s:\n%s\nat the run's budget:\n%s", budget, got, def)
	}
	if _, code := run(t, "eval", "--run", runDir, "--data", data, "--memory-budget", "-1"); code == 0 {
		t.Error("eval --memory-budget -1 was accepted")
	}

	predictOut := func(args ...string) ([]map[string]any, int) {
		t.Helper()
		out, logs, code := runStderr(t, append(append([]string{"predict", "--run", runDir, "--format", "jsonl", "--top", "10", "--log-format", "json"}, args...), paths...)...)
		if code != 0 {
			t.Fatalf("predict %v: exit %d\n%s%s", args, code, out, logs)
		}
		var rows []map[string]any
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatal(err)
			}
			rows = append(rows, m)
		}
		return rows, loggedBatch(t, logs)
	}
	ref, _ := predictOut("--batch-size", "1")
	planned, b := predictOut("--memory-budget", budget)
	if b != 5 {
		t.Errorf("predict --run --memory-budget %s logged batch %d, want 5", budget, b)
	}
	for i := range ref {
		want, have := ref[i]["top"].([]any), planned[i]["top"].([]any)
		for k := range want {
			w, h := want[k].(map[string]any), have[k].(map[string]any)
			if w["index"] != h["index"] || math.Abs(w["score"].(float64)-h["score"].(float64)) > 1e-6 {
				t.Fatalf("%s, rank %d: %v at batch 5, %v alone", paths[i], k, h, w)
			}
		}
	}
}

func indexOf(ids []string, id string) int {
	for i, x := range ids {
		if x == id {
			return i
		}
	}
	return -1
}

// batchRecorder is a backbone that remembers its largest batch.
type batchRecorder struct {
	backbone.Backbone
	largest int
}

func (r *batchRecorder) Features(ctx context.Context, batch *tensor.Tensor) (*tensor.Tensor, error) {
	r.largest = max(r.largest, batch.Shape[0])
	return r.Backbone.Features(ctx, batch)
}
