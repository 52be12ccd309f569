package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// shardTrain trains a one-epoch head on data with the cache in cache and
// extra flags, and returns the run's summary; workers are this test
// binary run as graft.
func shardTrain(t *testing.T, data, cache string, extra ...string) (summary map[string]any, stderr string, code int) {
	t.Helper()
	t.Setenv(asGraft, "1") // the shard workers: this binary as graft
	out := filepath.Join(t.TempDir(), "run")
	args := append([]string{"train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--val-split", "0.2",
		"--epochs", "1", "--preprocess", "unit", "--seed", "1", "--cache-dir", cache, "--cache-max-bytes", "0", "--out", out}, extra...)
	_, stderr, code = runAll(t, args...)
	if code != 0 {
		return nil, stderr, code
	}
	b, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &summary); err != nil {
		t.Fatal(err)
	}
	return summary, stderr, code
}

func counts(s map[string]any) (hits, computed int) {
	return int(s["feature_cache_hits"].(float64)), int(s["features_computed"].(float64))
}

// Sharded extraction (3 workers, 5 shards of 8) writes the cache a
// single process writes, byte for byte; a second job on the same
// backbone, tap, preprocessing and images computes nothing.
func TestShardedExtractionMatchesOneProcess(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4) // 40 images
	one, sharded := t.TempDir(), t.TempDir()
	if _, stderr, code := shardTrain(t, data, one); code != 0 {
		t.Fatalf("single-process train: exit %d\n%s", code, stderr)
	}
	s, stderr, code := shardTrain(t, data, sharded, "--extract-workers", "3", "--shard-size", "8")
	if code != 0 {
		t.Fatalf("sharded train: exit %d\n%s", code, stderr)
	}
	// The workers computed every feature, the run itself none.
	for _, want := range []string{`"shards done","shards":5,"computed":40,"cache_hits":0`, `"feature cache","samples":30,"hits":30,"to_compute":0`, `"feature cache","samples":10,"hits":10,"to_compute":0`} {
		if !strings.Contains(stderr, want) {
			t.Errorf("the log lacks %s:\n%s", want, stderr)
		}
	}
	if h, c := counts(s); h != 0 || c != 40 {
		t.Errorf("sharded run: %d hits, %d computed; want 0 and 40", h, c)
	}
	if tm := s["timing"].(map[string]any); tm["backbone_seconds"].(float64) <= 0 {
		t.Errorf("sharded run: timing %v, want the workers' backbone seconds", tm)
	}
	want := testmodules.CacheEntries(t, one)
	if len(want) != 41 { // 40 entries and the key
		t.Fatalf("single-process cache holds %d files, want 41", len(want))
	}
	testmodules.SameCache(t, testmodules.CacheEntries(t, sharded), want)

	s, stderr, code = shardTrain(t, data, sharded, "--extract-workers", "3", "--shard-size", "8")
	if code != 0 {
		t.Fatalf("second sharded train: exit %d\n%s", code, stderr)
	}
	if h, c := counts(s); h != 40 || c != 0 {
		t.Errorf("second job on the same images: %d hits, %d computed; want 40 and 0", h, c)
	}
}

// With augmented views the shards compute the views too (the training
// rows: 30 images x 3 views, then 10 validation images): the run itself
// computes nothing, and the cache is the single process's.
func TestShardedViewsMatchOneProcess(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4) // 40 images
	one, sharded := t.TempDir(), t.TempDir()
	aug := []string{"--augment", "flip,rotation=0.1", "--views", "3"}
	if _, stderr, code := shardTrain(t, data, one, aug...); code != 0 {
		t.Fatalf("single-process train: exit %d\n%s", code, stderr)
	}
	s, stderr, code := shardTrain(t, data, sharded, append(aug, "--extract-workers", "3", "--shard-size", "8")...)
	if code != 0 {
		t.Fatalf("sharded train: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, `"shards done","shards":13,"computed":100,"cache_hits":0`) {
		t.Errorf("the log lacks the 13 shards computing 100 rows:\n%s", stderr)
	}
	if h, c := counts(s); h != 0 || c != 100 {
		t.Errorf("sharded run: %d hits, %d computed; want 0 and 100", h, c)
	}
	want := testmodules.CacheEntries(t, one)
	if len(want) != 101 { // 90 training rows, 10 validation images, the key
		t.Fatalf("single-process cache holds %d files, want 101", len(want))
	}
	testmodules.SameCache(t, testmodules.CacheEntries(t, sharded), want)
}

// A worker killed (SIGKILL) in the middle of shard 0 is retried and the
// job succeeds with the single-process cache; with one attempt allowed
// the job fails naming the shard's range and first file.
func TestShardKilledIsRetried(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 4)
	one, sharded := t.TempDir(), t.TempDir()
	if _, stderr, code := shardTrain(t, data, one); code != 0 {
		t.Fatalf("single-process train: exit %d\n%s", code, stderr)
	}
	s, stderr, code := shardTrain(t, data, sharded, "--extract-workers", "2", "--shard-size", "8", "--test-kill-shard-after", "4")
	if code != 0 {
		t.Fatalf("sharded train with a killed worker: exit %d\n%s", code, stderr)
	}
	if !strings.Contains(stderr, "shard failed") || !strings.Contains(stderr, "signal: killed") {
		t.Errorf("the log does not report the killed shard:\n%s", stderr)
	}
	if h, c := counts(s); h != 0 || c != 40 {
		t.Errorf("run: %d hits, %d computed; want 0 and 40", h, c)
	}
	testmodules.SameCache(t, testmodules.CacheEntries(t, sharded), testmodules.CacheEntries(t, one))

	_, stderr, code = shardTrain(t, data, t.TempDir(), "--extract-workers", "2", "--shard-size", "8", "--test-kill-shard-after", "4", "--shard-attempts", "1")
	if code == 0 {
		t.Fatal("a shard killed on its only attempt: the job succeeded")
	}
	for _, want := range []string{"shard 0 (samples 0-7, first ", "failed 1 attempts"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error lacks %q:\n%s", want, stderr)
		}
	}
}

// Bad sharding flags fail before anything is written, saying what to do
// (the job's checks: the daemon's jobs get the same messages).
func TestShardFlagErrors(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 2)
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--extract-workers", "-1"}, "extract_workers: -1: use 0"},
		{[]string{"--extract-workers", "2", "--shard-size", "0"}, "shard_size: 0: use a positive number"},
		{[]string{"--extract-workers", "2", "--shard-attempts", "0"}, "shard_attempts: 0: use 1 or more"},
		{[]string{"--extract-workers", "2", "--cache-dir", "none"}, "drop cache_dir none"},
	} {
		out := filepath.Join(t.TempDir(), "run")
		args := append([]string{"train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--preprocess", "unit", "--epochs", "1", "--cache-dir", t.TempDir(), "--out", out}, c.flags...)
		_, stderr, code := runAll(t, args...)
		if code == 0 || !strings.Contains(stderr, c.want) {
			t.Errorf("%v: exit %d, stderr lacks %q:\n%s", c.flags, code, c.want, stderr)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("%v: the run directory was created", c.flags)
		}
	}
}

// A resumed run hashes its samples before the shards: all cached, it
// starts no worker.
func TestShardResumeRunsNoWorker(t *testing.T) {
	t.Setenv(asGraft, "1")
	data, cache := testmodules.Digits(t, "train", 0, 2), t.TempDir()
	out := filepath.Join(t.TempDir(), "run")
	sharding := []string{"--extract-workers", "2", "--shard-size", "4"}
	_, stderr, code := runAll(t, append([]string{"train", "--backbone", fashionCNN, "--tap", "conv2d_2", "--data", data, "--val-split", "0.2",
		"--epochs", "1", "--preprocess", "unit", "--seed", "1", "--cache-dir", cache, "--cache-max-bytes", "0", "--out", out}, sharding...)...)
	if code != 0 || !strings.Contains(stderr, `"shards":5,"to_run":5`) {
		t.Fatalf("train: exit %d, want 5 shards run:\n%s", code, stderr)
	}
	_, stderr, code = runAll(t, append([]string{"train", "--resume", out, "--epochs", "2", "--cache-dir", cache}, sharding...)...)
	if code != 0 || !strings.Contains(stderr, `"shards":5,"to_run":0`) {
		t.Fatalf("resume: exit %d, want no shard to run:\n%s", code, stderr)
	}
}
