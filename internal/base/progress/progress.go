package progress

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/fit/train"
)

// stepEvery throttles step events: a terminal redraws, a pipe gets a line.
const stepEvery = time.Second

// Renderer turns events into output.
type Renderer struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	// screen is w on a terminal, shared with the logger: a warning
	// clears the bar's line before it is written.
	screen    *logging.Screen
	last      time.Time
	epochFrom time.Time
	// extractFrom is when the current split's extraction began.
	extractFrom time.Time
	now         func() time.Time
}

// New renders to w: a bar when tty, JSON lines otherwise.
func New(w io.Writer, tty bool) *Renderer {
	r := &Renderer{w: w, tty: tty, now: time.Now}
	if tty {
		r.screen = logging.ScreenOf(w)
	}
	return r
}

// Event renders one event; safe for concurrent use.
func (r *Renderer) Event(e train.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.event(e, r.now())
}

// JobEvent renders one of a daemon job's events on a terminal: a training
// event as Event does, its rates and ETA from the time the daemon got it
// (a job followed from its start or replayed later reads the same), the
// daemon's own (queued, attempt, failed, ...) as a line each.
func (r *Renderer) JobEvent(e api.JobEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ev train.Event
	if len(e.Data) > 0 && json.Unmarshal(e.Data, &ev) == nil && ev.Kind != "" {
		r.event(ev, e.Time)
		return
	}
	line := e.Time.Local().Format(time.TimeOnly) + " " + e.Type
	switch {
	case e.Attempt > 0 && e.Type == "attempt":
		line += fmt.Sprintf(" %d", e.Attempt)
	case e.Attempt > 0:
		line += fmt.Sprintf(" (attempt %d)", e.Attempt)
	}
	if e.Message != "" {
		line += ": " + e.Message
	}
	if r.tty {
		r.screen.Line(line)
	} else {
		fmt.Fprintln(r.w, line)
	}
}

// event renders e as of now; r.mu is held.
func (r *Renderer) event(e train.Event, now time.Time) {
	if e.Kind == "step" || e.Kind == "extract" {
		switch {
		case e.Kind == "step" && e.Step == 1:
			r.epochFrom = now
		case e.Kind == "extract" && e.Step == 0:
			r.extractFrom = now
		}
		// Drawn at most once a second of the reader's time, however
		// fast the events come (a finished job's, replayed).
		wall := r.now()
		if wall.Sub(r.last) < stepEvery && e.Step != e.Steps {
			return
		}
		r.last = wall
	}
	if !r.tty {
		b, _ := json.Marshal(e)
		fmt.Fprintf(r.w, "%s\n", b)
		return
	}
	switch e.Kind {
	case "extract":
		elapsed := now.Sub(r.extractFrom)
		rate, eta, unit := "", "?", "images"
		if e.Split == train.EventShards { // sharded extraction counts shards done
			unit = "shards"
		}
		if e.Step > 0 && elapsed > 0 {
			perSec := float64(e.Step) / elapsed.Seconds()
			rate = fmt.Sprintf("  %.1f %s/s", perSec, unit)
			eta = time.Duration(float64(e.Steps-e.Step) / perSec * float64(time.Second)).Round(time.Second).String()
		}
		r.screen.Bar(fmt.Sprintf("%s features %s %d/%d %s%s  ETA %s", e.Split, bar(e.Step, e.Steps), e.Step, e.Steps, unit, rate, eta))
	case "features":
		f := e.Features
		r.screen.Line(fmt.Sprintf("%s features: %d samples, %d from cache, %d computed, %d bad (decode %.1fs, backbone %.1fs)",
			e.Split, f.Samples, f.Hits, f.Computed, f.BadCount(), f.DecodeSeconds, f.BackboneSeconds))
	case "step":
		frac := float64(e.Step) / float64(e.Steps)
		eta := time.Duration(float64(now.Sub(r.epochFrom)) * (1 - frac) / frac).Round(time.Second)
		r.screen.Bar(fmt.Sprintf("epoch %d/%d %s %d/%d  ETA %s  loss %.4f  acc %.4f", e.Epoch, e.Epochs, bar(e.Step, e.Steps), e.Step, e.Steps, eta, e.Loss, e.Accuracy))
	case "epoch":
		m := e.Metrics
		r.screen.Line(fmt.Sprintf("epoch %d/%d  loss %.4f  acc %.4f  val_loss %.4f  val_acc %.4f  top5 %.4f  lr %.3g  %.1fs",
			m.Epoch, e.Epochs, m.Loss, m.Accuracy, m.ValLoss, m.ValAccuracy, m.ValTop5, m.LR, m.Seconds))
	case "done":
		s := e.Summary
		r.screen.Line(fmt.Sprintf("done: %s (%d epochs%s)", s.Best(), s.Epochs, map[bool]string{true: ", stopped early"}[s.StoppedEarly]))
	}
}

// bar draws done of total as a 30-character bar in brackets.
func bar(done, total int) string {
	const width = 30
	n := 0
	if total > 0 {
		n = min(width*done/total, width)
	}
	return "[" + strings.Repeat("=", n) + strings.Repeat(" ", width-n) + "]"
}
