package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/util/tfrecord"
)

// Issue 11, defects 8 and 10: numbers beyond any sensible job are refused
// (400), and a spec that cannot work or needs more memory than the daemon
// gives a job is refused at submission (422) with the field and the same
// advice the CLI gives, not accepted to fail later.
func TestSpecBoundsAndEarlyValidation(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, JobMemory: 256 << 20})
	good := `"backbone":"` + backboneDir + `","data":"` + f.data + `","preprocess":"unit"`
	for _, c := range []struct {
		name, body string
		code       int
		field      string
		want       string
	}{
		{"huge head", `{` + good + `,"tap":"conv2d_2","head":"conv:100000"}`, 400, "head", "over this daemon's limit"},
		{"huge batch", `{` + good + `,"tap":"conv2d_2","batch_size":100000000}`, 400, "batch_size", "limit"},
		{"huge workers", `{` + good + `,"tap":"conv2d_2","workers":100000}`, 400, "workers", "limit"},
		{"huge extract workers", `{` + good + `,"tap":"conv2d_2","extract_workers":100000}`, 400, "extract_workers", "limit"},
		{"huge shard attempts", `{` + good + `,"tap":"conv2d_2","extract_workers":2,"shard_attempts":1000000000}`, 400, "shard_attempts", "limit"},
		{"huge memory budget", `{` + good + `,"tap":"conv2d_2","memory_budget":9223372036854775807}`, 400, "memory_budget", "--job-memory"},
		{"over the job memory", `{` + good + `,"tap":"conv2d_2","head":"conv:16384:7"}`, 422, "memory", "--job-memory"},
		{"unknown tap", `{` + good + `,"tap":"conv2d_22"}`, 422, "tap", "conv2d_2"},
		{"unknown augmentation", `{` + good + `,"tap":"conv2d_2","augment":"shear=0.1"}`, 400, "augment", "unknown transform"},
		{"views without augment", `{` + good + `,"tap":"conv2d_2","views":4}`, 400, "views", "set augment too"},
		{"not a model", `{"backbone":"` + f.data + `","data":"` + f.data + `","tap":"x"}`, 422, "backbone", "saved_model"},
		{"class weights outside the roots", `{` + good + `,"tap":"conv2d_2","class_weight":"/etc/hostname"}`, 400, "class_weight", "allow"},
		{"dropout 1", `{` + good + `,"tap":"conv2d_2","dropout":1}`, 400, "dropout", "[0, 1)"},
		{"tensorflow engine in a plain build", `{` + good + `,"tap":"conv2d_2","engine":"tensorflow"}`, 422, "engine", "tensorflow"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.field == "engine" && tf.Available {
				t.Skip("this build has the TensorFlow engine (make test-tf)")
			}
			resp, err := http.Post(s.Base+"/v1/jobs", "application/json", strings.NewReader(c.body))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.code || !strings.Contains(string(b), `"field": "`+c.field+`"`) || !strings.Contains(string(b), c.want) {
				t.Errorf("%d %s; want %d on field %s saying %q", resp.StatusCode, b, c.code, c.field, c.want)
			}
		})
	}
	if jobs, err := s.Jobs(context.Background()); err != nil || len(jobs) != 0 {
		t.Errorf("jobs after refusals: %v %v", jobs, err)
	}
	if _, err := s.Submit(context.Background(), f.spec(1)); err != nil {
		t.Errorf("a sensible job under a 256 MiB job memory: %v", err)
	}
}

// Issue 11, defect 8: cancel ends a job whose worker is stuck in a step
// (it ignores SIGTERM) without waiting out the shutdown grace period.
func TestCancelCutsAStuckStep(t *testing.T) {
	f := newFixture(t, 2)
	stuck := filepath.Join(t.TempDir(), "stuck-worker")
	if err := os.WriteFile(stuck, []byte("#!/bin/sh\ntrap '' TERM\nsleep 3600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// Shutdown keeps its grace; cancel does not wait it out.
	s := startServer(t, daemon.Options{AllowRoots: f.roots, Grace: 2 * time.Minute, WorkerPath: stuck})
	j, err := s.Submit(context.Background(), f.spec(1))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s.Client, j.ID, 30*time.Second, "running", func(j *api.Job) bool { return lastPID(j) > 0 })
	if _, err := s.Cancel(context.Background(), j.ID); err != nil {
		t.Fatal(err)
	}
	if j = waitFinal(t, s.Client, j.ID); j.State != api.Cancelled {
		t.Errorf("job %s %q; want cancelled", j.State, j.Error)
	}
}

// writeShards writes the fixture's digits as two TFRecord files of
// tf.train.Example in dir.
func writeShards(t *testing.T, f fixture, dir string) []string {
	t.Helper()
	ps, _ := filepath.Glob(filepath.Join(f.data, "*", "*.png"))
	var files []string
	for shard := range 2 {
		var buf bytes.Buffer
		w := tfrecord.NewWriter(&buf)
		for i, p := range ps {
			if i%2 != shard {
				continue
			}
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			label := filepath.Base(filepath.Dir(p))
			n, _ := strconv.Atoi(label)
			w.Write(dataset.EncodeExample(b, int64(n), label))
		}
		name := filepath.Join(dir, fmt.Sprintf("train-%05d-of-00002.tfrecord", shard))
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, name)
	}
	return files
}

// Issue 11, defects 11 and 12: TFRecord globs and comma lists, as graft
// train takes them, are accepted when every file lies inside the roots;
// relative paths are refused with a message that says so.
func TestTFRecordListsAndRelativePaths(t *testing.T) {
	f := newFixture(t, 3)
	recs, outside := t.TempDir(), t.TempDir()
	files := writeShards(t, f, recs)
	b, _ := os.ReadFile(files[0])
	os.WriteFile(filepath.Join(outside, "x.tfrecord"), b, 0o644)
	symlink(t, filepath.Join(outside, "x.tfrecord"), filepath.Join(recs, "sneaky.tfrecord.link"))
	s := startServer(t, daemon.Options{AllowRoots: append(f.roots, recs)})
	ctx := context.Background()
	for _, c := range []struct {
		name, data string
		code       int // 0: accepted
		want       string
	}{
		{"glob", filepath.Join(recs, "train-*.tfrecord"), 0, ""},
		{"comma list", files[0] + ", " + files[1], 0, ""},
		{"glob matching nothing", filepath.Join(recs, "nope-*.tfrecord"), 400, "matches no files"},
		{"list with a file outside", files[0] + "," + filepath.Join(outside, "x.tfrecord"), 400, "path not allowed"},
		{"glob matching a link out", filepath.Join(recs, "*.link"), 400, "outside"},
		{"relative data", "data/digits", 400, "relative"},
		{"relative glob", "recs/*.tfrecord", 400, "relative"},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := f.spec(1)
			req.Data = c.data
			j, err := s.Submit(ctx, req)
			if c.code != 0 {
				if apiStatus(err) != c.code || !strings.Contains(err.Error(), c.want) {
					t.Errorf("%v; want %d saying %q", err, c.code, c.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if j = waitFinal(t, s.Client, j.ID); j.State != api.Succeeded {
				t.Errorf("job on %s: %s %q", c.data, j.State, j.Error)
			}
		})
	}
	req := f.spec(1)
	req.Backbone = "testdata/models/fashion_cnn"
	if _, err := s.Submit(ctx, req); apiStatus(err) != 400 || !strings.Contains(err.Error(), "relative") {
		t.Errorf("a relative backbone: %v", err)
	}
}

// Issue 11, defect 13: with less free space on the data directory's disk
// than a job needs, the daemon is not ready and refuses submissions with
// 503 saying why (a full disk is simulated by asking for more than any).
func TestFullDiskNotReady(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MinFreeDisk: 1 << 62})
	resp, err := http.Get(s.Base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(b), "free") {
		t.Errorf("readyz: %d %s; want 503 about free space", resp.StatusCode, b)
	}
	if _, err := s.Submit(context.Background(), f.spec(1)); apiStatus(err) != 503 || !strings.Contains(err.Error(), "free space") {
		t.Errorf("submit: %v; want 503 about free space", err)
	}
}

// A job with augmented views runs through a worker: the stored spec
// carries the canonical augmentation and its views, and every training
// image is extracted once per view (10 training, 10 validation images).
func TestAugmentedJob(t *testing.T) {
	f := newFixture(t, 2)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	req := f.spec(2)
	req.Augment, req.Views = "rotation=0.1,flip", api.Ptr(3)
	j, err := s.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	j = waitFinal(t, s.Client, j.ID)
	if j.State != api.Succeeded || j.Spec.Augment != "flip,rotation=0.1" || j.Spec.Views != 3 {
		t.Fatalf("job %s (%s): augment %q, views %d", j.State, j.Error, j.Spec.Augment, j.Spec.Views)
	}
	if sm := j.Summary; sm.TrainSamples != 10 || sm.CacheComputed+sm.CacheHits != 10*3+10 {
		t.Errorf("summary: %d training samples, %d features computed, %d from the cache; want 10 and 40 in all", sm.TrainSamples, sm.CacheComputed, sm.CacheHits)
	}
}
