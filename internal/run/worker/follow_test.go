package worker

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
)

// The follower on hand-written output: every event in order, error and
// done included; a line that is no event and one over MaxLine reported
// and skipped; the end as the error and done events said it.
func TestFollower(t *testing.T) {
	long := `{"event":"step","message":"` + strings.Repeat("x", MaxLine) + `"}`
	out := strings.Join([]string{
		`{"event":"step","epoch":1,"step":1,"steps":2}`,
		`not an event`,
		long,
		`{"event":"done","summary":{"epochs":3,"best_epoch":2}}`,
		`{"event":"error","message":"disk full","short":"disk"}`,
	}, "\n") + "\n"
	var kinds []api.EventKind
	var bad []string
	skipped := 0
	end := Follower{
		Event:    func(e api.Event, raw []byte) { kinds = append(kinds, e.Kind) },
		NotEvent: func(line []byte) { bad = append(bad, string(line)) },
		Skipped:  func(n int) { skipped += n },
	}.Follow(strings.NewReader(out))
	if want := []api.EventKind{api.EventStep, api.EventDone, api.EventError}; len(kinds) != len(want) || kinds[0] != want[0] || kinds[1] != want[1] || kinds[2] != want[2] {
		t.Errorf("events %v, want %v", kinds, want)
	}
	if len(bad) != 1 || bad[0] != "not an event" {
		t.Errorf("lines that are no event: %q", bad)
	}
	if skipped != len(long)+1 {
		t.Errorf("skipped %d bytes, want the long line's %d", skipped, len(long)+1)
	}
	if !end.Done || end.Summary == nil || end.Summary.Epochs != 3 || end.Summary.BestEpoch != 2 || end.Err != "disk full" || end.Short != api.ShortDisk {
		t.Errorf("end %+v", end)
	}
}
