package train

import (
	"strings"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// The case: val_loss picks epoch 4 (0.8462) while epoch 8 has the
// highest accuracy (0.8692); the summary must show both and say which
// metric chose.
func TestSummaryNamesTheMonitorAndTheOtherBest(t *testing.T) {
	var ms []rundir.Metrics
	for e := 1; e <= 8; e++ {
		ms = append(ms, rundir.Metrics{Epoch: e, ValLoss: 0.5, ValAccuracy: 0.80})
	}
	ms[3].ValLoss, ms[3].ValAccuracy = 0.3120, 0.8462 // epoch 4
	ms[7].ValLoss, ms[7].ValAccuracy = 0.3300, 0.8692 // epoch 8
	cases := []struct {
		monitor string
		best    int
		want    []string
	}{
		{"val_loss", 4, []string{"best epoch 4 by val_loss 0.3120", "(val_accuracy 0.8462)", "highest val_accuracy 0.8692 at epoch 8"}},
		{"val_accuracy", 8, []string{"best epoch 8 by val_accuracy 0.8692", "(val_loss 0.3300)", "lowest val_loss 0.3120 at epoch 4"}},
	}
	for _, c := range cases {
		var s Summary
		setBest(&s, api.Monitor(c.monitor), c.best, ms)
		if string(s.Monitor) != c.monitor || s.HighestValAccuracyEpoch != 8 || s.LowestValLossEpoch != 4 || s.HighestValAccuracy != 0.8692 || s.LowestValLoss != 0.3120 {
			t.Errorf("%s: %+v", c.monitor, s)
		}
		line := s.Best()
		for _, w := range c.want {
			if !strings.Contains(line, w) {
				t.Errorf("%s: %q lacks %q", c.monitor, line, w)
			}
		}
	}
}
