package sweep

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// Run runs the plan in its sweep directory (made new, or empty but for a
// daemon's owner stamp): every trial on features extracted once, then the
// leaderboard (leaderboard.json) and the best trial promoted to the sweep
// directory's own run. A setup error leaves no sweep behind; a sweep whose
// every trial failed is an error after the leaderboard is written.
func Run(ctx context.Context, p *Plan, opts train.SweepOptions) (Leaderboard, error) {
	if err := p.Create(); err != nil {
		return Leaderboard{}, err
	}
	start := time.Now()
	rep, err := train.Sweep(ctx, p.Jobs, opts)
	if rep == nil { // no trial ran: nothing of the sweep stays
		if rerr := p.remove(); rerr != nil && opts.Log != nil {
			opts.Log.Warn("sweep: removing the sweep directory", zap.Error(rerr))
		}
		return Leaderboard{}, err
	}
	entries := make([]Entry, len(rep.Trials))
	for i, t := range rep.Trials {
		e := Entry{Trial: i, Settings: p.Points[i], Run: p.Jobs[i].Out, Seconds: t.Seconds}
		if t.Err != nil {
			e.Error = t.Err.Error()
		} else {
			s := t.Summary
			e.BestEpoch, e.Epochs, e.StoppedEarly, e.ValLoss, e.ValAccuracy = s.BestEpoch, s.Epochs, s.StoppedEarly, s.BestValLoss, s.BestValAccuracy
		}
		entries[i] = e
	}
	b := Rank(p.Jobs[0].Monitor, entries)
	b.Parallel, b.FeatureSeconds = rep.Parallel, rep.FeatureSeconds
	b.Seconds = time.Since(start).Seconds()
	if b.Best != "" && err == nil {
		err = Promote(p.Where.Out, b.Best)
	}
	if werr := rundir.WriteJSON(p.Where.Out, LeaderboardFile, b); werr != nil && err == nil {
		err = werr
	}
	if err == nil && b.Best == "" {
		err = fmt.Errorf("sweep: every trial failed (see %s)", LeaderboardFile)
	}
	return b, err
}
