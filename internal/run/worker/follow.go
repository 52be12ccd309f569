package worker

import (
	"encoding/json"
	"io"

	"github.com/graft-ml/graft/api"
)

// End is what a worker's event lines said of its end.
type End struct {
	Done    bool         // it reported the run's end (a done event)
	Summary *api.Summary // the done event's summary
	Err     string       // its error event's message
	Short   string       // the resource it ran short of (api.ShortDisk), if that was why
}

// Follower reads a worker's event lines: the one reader of the protocol's
// output, for the daemon's supervisor and graft train --device cuda alike.
type Follower struct {
	// Event hears every event, error and done included, with its line as
	// the worker wrote it.
	Event func(e api.Event, raw []byte)
	// Skipped hears the length of a line over MaxLine (skipped), NotEvent
	// a line that is no event (ignored: nothing the protocol lets a
	// worker say). Either may be nil.
	Skipped  func(bytes int)
	NotEvent func(line []byte)
}

// Follow reads r until the worker closes it (or the pipe breaks: the
// worker's exit says the rest) and returns what the events said of the
// end.
func (f Follower) Follow(r io.Reader) End {
	var end End
	lines := NewEvents(r)
	for {
		raw, skipped, err := lines.Next()
		if skipped > 0 && f.Skipped != nil {
			f.Skipped(skipped)
		}
		if err != nil {
			return end
		}
		var e api.Event
		if err := json.Unmarshal(raw, &e); err != nil {
			if f.NotEvent != nil {
				f.NotEvent(raw)
			}
			continue
		}
		switch e.Kind {
		case api.EventError:
			end.Err, end.Short = e.Message, e.Short
		case api.EventDone:
			end.Done, end.Summary = true, e.Summary
		}
		if f.Event != nil {
			f.Event(e, raw)
		}
	}
}
