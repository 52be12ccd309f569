package progress

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/rundir"
)

func TestJSONLinesThrottleSteps(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, false)
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	for s := 1; s <= 10; s++ {
		clock = clock.Add(300 * time.Millisecond)
		r.Event(train.Event{Kind: "step", Epoch: 1, Epochs: 1, Step: s, Steps: 10})
	}
	r.Event(train.Event{Kind: "epoch", Epoch: 1, Epochs: 1, Metrics: &rundir.Metrics{Epoch: 1, ValAccuracy: 0.5}})
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	// 3 s of steps at one line per second, plus the last step, plus epoch.
	if len(lines) < 3 || len(lines) > 6 {
		t.Fatalf("%d lines: %s", len(lines), b.String())
	}
	for _, l := range lines {
		var e train.Event
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
	}
	if !strings.Contains(lines[len(lines)-1], `"val_accuracy":0.5`) {
		t.Errorf("last line %q", lines[len(lines)-1])
	}
}

func TestBarOnTerminal(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true)
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	r.Event(train.Event{Kind: "step", Epoch: 2, Epochs: 5, Step: 1, Steps: 4, Loss: 0.5, Accuracy: 0.75})
	clock = clock.Add(3 * time.Second)
	r.Event(train.Event{Kind: "step", Epoch: 2, Epochs: 5, Step: 2, Steps: 4, Loss: 0.5, Accuracy: 0.75})
	// Half done after 3 s: 3 s to go.
	if !strings.Contains(b.String(), "ETA 3s") || !strings.Contains(b.String(), "epoch 2/5") {
		t.Errorf("bar %q", b.String())
	}
}

// Feature extraction gets a bar too: 200 of 800 images after 10 s is
// 20 images/s, and the 600 left take 30 s.
func TestExtractionBar(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true)
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	r.Event(train.Event{Kind: "extract", Split: "train", Step: 0, Steps: 800})
	clock = clock.Add(10 * time.Second)
	r.Event(train.Event{Kind: "extract", Split: "train", Step: 200, Steps: 800})
	out := b.String()
	for _, want := range []string{"train features", "200/800 images", "20.0 images/s", "ETA 30s", "[=======  "} {
		if !strings.Contains(out, want) {
			t.Errorf("extraction bar %q lacks %q", out, want)
		}
	}
}

// Issue 22, defect 6: a run's features event carries the first bad files
// and their total; the line says the total.
func TestFeaturesLineCountsEveryBadFile(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true)
	r.Event(train.Event{Kind: "features", Split: "train", Features: &api.FeatureReport{Samples: 30010, Computed: 10,
		Bad: make([]api.BadFile, api.MaxExamples), BadTotal: 30000, BadList: "bad_files.jsonl"}})
	if !strings.Contains(b.String(), "30000 bad") {
		t.Errorf("features line %q does not count 30000 bad files", b.String())
	}
}

// A daemon job's events replayed at once read as they happened: rates and
// ETA come from the events' times (200 of 800 images 10 s after the start
// is 20 images/s, 30 s to go); the daemon's own events are lines.
func TestJobEventsAtTheirTimes(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true)
	clock := time.Unix(1000, 0) // the reader's clock stands still
	r.now = func() time.Time { return clock }
	at := time.Unix(0, 0)
	ev := func(e train.Event, after time.Duration) api.JobEvent {
		raw, _ := json.Marshal(e)
		return api.JobEvent{Time: at.Add(after), Type: string(e.Kind), Attempt: 1, Data: raw}
	}
	r.JobEvent(api.JobEvent{Time: at, Type: "attempt", Attempt: 1, Message: "starting"})
	r.JobEvent(ev(train.Event{Kind: "extract", Split: "train", Step: 0, Steps: 800}, 0))
	clock = clock.Add(2 * time.Second)
	r.JobEvent(ev(train.Event{Kind: "extract", Split: "train", Step: 200, Steps: 800}, 10*time.Second))
	out := b.String()
	for _, want := range []string{" attempt 1: starting\n", "200/800 images  20.0 images/s  ETA 30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("%q lacks %q", out, want)
		}
	}
}

// Sharded extraction's bar counts shards: 2 of 8 after 10 s is 0.2
// shards/s, and the 6 left take 30 s.
func TestShardsBar(t *testing.T) {
	var b bytes.Buffer
	r := New(&b, true)
	clock := time.Unix(0, 0)
	r.now = func() time.Time { return clock }
	r.Event(train.Event{Kind: "extract", Split: train.EventShards, Step: 0, Steps: 8})
	clock = clock.Add(10 * time.Second)
	r.Event(train.Event{Kind: "extract", Split: train.EventShards, Step: 2, Steps: 8})
	out := b.String()
	for _, want := range []string{"shards features", "2/8 shards", "0.2 shards/s", "ETA 30s"} {
		if !strings.Contains(out, want) {
			t.Errorf("shards bar %q lacks %q", out, want)
		}
	}
}
