package train

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/testkit/testmodules"
)

// A run directory written before graft recorded effective values and
// splits (config.json with "lr": 0, no split.json) resumes exactly as an
// uninterrupted run.
func TestOldRunDirectoryResumes(t *testing.T) {
	data := testmodules.Digits(t, "train", 0, 6)
	ctx := context.Background()
	straight := smallConfig(t, data, 2)
	if _, err := Run(ctx, straight, Options{}); err != nil {
		t.Fatal(err)
	}
	cut := smallConfig(t, data, 2)
	cctx, cancel := context.WithCancel(ctx)
	Run(cctx, cut, Options{Progress: func(e Event) {
		if e.Kind == "epoch" && e.Epoch == 1 {
			cancel()
		}
	}})
	var rec map[string]any
	if err := rundir.ReadJSON(cut.Out, rundir.ConfigFile, &rec); err != nil {
		t.Fatal(err)
	}
	rec["lr"], rec["momentum"], rec["weight_decay"] = 0, 0, 0
	delete(rec, "preprocess_reason")
	delete(rec, "version") // written before config.json carried one
	if err := rundir.WriteJSON(cut.Out, rundir.ConfigFile, rec); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(cut.Out, rundir.SplitFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := Run(ctx, Config{Out: cut.Out}, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	equalParams(t, "old run resumed vs uninterrupted", params(t, filepath.Join(cut.Out, rundir.LastCkpt)), params(t, filepath.Join(straight.Out, rundir.LastCkpt)))
}
