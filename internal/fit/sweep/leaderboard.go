package sweep

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/graft-ml/graft/api"
)

// LeaderboardFile is the sweep directory's record of its trials, best
// first.
const LeaderboardFile = "leaderboard.json"

// Entry is one trial's result.
type Entry struct {
	Rank     int    `json:"rank"` // 1 is best; failed trials come last
	Trial    int    `json:"trial"`
	Settings Point  `json:"settings"`
	Run      string `json:"run"` // the trial's run directory
	// The best epoch's validation metrics (the monitor picks it).
	BestEpoch    int     `json:"best_epoch,omitempty"`
	Epochs       int     `json:"epochs,omitempty"`
	StoppedEarly bool    `json:"stopped_early,omitempty"`
	ValLoss      float64 `json:"val_loss,omitempty"`
	ValAccuracy  float64 `json:"val_accuracy,omitempty"`
	Seconds      float64 `json:"seconds"`
	Error        string  `json:"error,omitempty"`
}

// Leaderboard is a sweep's trials ranked by the monitored metric.
type Leaderboard struct {
	Monitor api.Monitor `json:"monitor"`
	// Best is the best trial's run directory; the sweep directory is a
	// copy of it (Promote). Eval, predict and export take either.
	Best     string  `json:"best,omitempty"`
	Trials   []Entry `json:"trials"`
	Parallel int     `json:"parallel"`
	// FeatureSeconds is the one extraction (decode and backbone); Seconds
	// the whole sweep's wall time.
	FeatureSeconds float64 `json:"feature_seconds"`
	Seconds        float64 `json:"seconds"`
}

// Rank orders entries by monitor (val_loss: lowest first; val_accuracy:
// highest first; ties: the earlier trial), failed trials last, and numbers
// their ranks.
func Rank(monitor api.Monitor, entries []Entry) Leaderboard {
	es := slices.Clone(entries)
	metric := func(e Entry) float64 {
		if monitor == api.ValAccuracy {
			return -e.ValAccuracy
		}
		return e.ValLoss
	}
	slices.SortStableFunc(es, func(a, b Entry) int {
		switch {
		case (a.Error == "") != (b.Error == ""):
			if a.Error == "" {
				return -1
			}
			return 1
		case metric(a) < metric(b):
			return -1
		case metric(a) > metric(b):
			return 1
		}
		return a.Trial - b.Trial
	})
	l := Leaderboard{Monitor: monitor, Trials: es}
	for i := range es {
		es[i].Rank = i + 1
	}
	if len(es) > 0 && es[0].Error == "" {
		l.Best = es[0].Run
	}
	return l
}

// Table writes the leaderboard for a person: one line per trial, best
// first.
func (l Leaderboard) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RANK\tTRIAL\tVAL_LOSS\tVAL_ACC\tBEST/EPOCHS\tSECONDS\tSETTINGS")
	for _, e := range l.Trials {
		if e.Error != "" {
			fmt.Fprintf(tw, "%d\t%d\t-\t-\t-\t%.1f\t%s  failed: %s\n", e.Rank, e.Trial, e.Seconds, e.Settings, firstLine(e.Error))
			continue
		}
		fmt.Fprintf(tw, "%d\t%d\t%.4f\t%.4f\t%d/%d\t%.1f\t%s\n", e.Rank, e.Trial, e.ValLoss, e.ValAccuracy, e.BestEpoch, e.Epochs, e.Seconds, e.Settings)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if l.Best != "" {
		_, err := fmt.Fprintf(w, "best (%s): %s\n", l.Monitor, l.Best)
		return err
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
