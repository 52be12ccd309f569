package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// parse runs the train command's flag parsing and --config merge, and
// returns the resulting job without training.
func parse(t *testing.T, args ...string) (*TrainJob, error) {
	t.Helper()
	var got *TrainJob
	cmd := TrainCommand("test", func(_ *cobra.Command, job *TrainJob) error { got = job; return nil })
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.Execute()
	return got, err
}

func TestConfigFileThenFlags(t *testing.T) {
	spec := filepath.Join(t.TempDir(), "job.json")
	os.WriteFile(spec, []byte(`{"backbone":"m","tap":"conv2d_2","data":"d","epochs":3,"batch_size":8,"tags":["serve","gpu"],"head":"linear"}`), 0o644)
	job, err := parse(t, "--config", spec, "--epochs", "5", "--tags", "serve", "--out", "run")
	if err != nil {
		t.Fatal(err)
	}
	c := job.Config
	// From the file: tap, batch size, head; from flags: epochs, tags, out;
	// untouched defaults: optimizer.
	if c.Tap != "conv2d_2" || c.BatchSize != 8 || c.Head != "linear" || c.Epochs != 5 || strings.Join(c.Tags, ",") != "serve" || c.Out != "run" || c.Optimizer != "adam" {
		t.Errorf("merged config %+v", c)
	}

	os.WriteFile(spec, []byte(`{"epochz": 3}`), 0o644)
	if _, err := parse(t, "--config", spec); err == nil || !strings.Contains(err.Error(), "epochz") {
		t.Errorf("unknown field: %v", err)
	}
	if _, err := parse(t, "--config", filepath.Join(t.TempDir(), "none.json")); err == nil {
		t.Error("missing file accepted")
	}
}
