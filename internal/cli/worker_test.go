package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/run/worker"
)

// The worker command reads the protocol's input, opens the device the
// job names, and reports a job it cannot run as the error event.
func TestWorkerCommand(t *testing.T) {
	in, err := worker.Encode(worker.Input{Job: "job-7", Spec: api.RunSpec{Device: api.MustDevice("cuda:1"), Out: "r"}, Log: worker.Log{Format: "json", Level: "error"}})
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join(t.TempDir(), "in.json")
	os.WriteFile(spec, in, 0o644)
	var out bytes.Buffer
	var opened api.Device
	closed := false
	cmd := WorkerCommand("test", &out, func(s api.RunSpec, _ *zap.Logger) (head.Ops, func(), error) {
		opened = s.Device
		return nil, func() { closed = true }, nil
	})
	cmd.SetArgs([]string{"--spec", spec})
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err = cmd.Execute()
	if err == nil || !strings.Contains(out.String(), `"event":"error"`) || !strings.Contains(out.String(), "backbone: required") {
		t.Errorf("%v; events %s", err, out.String())
	}
	if opened != api.MustDevice("cuda:1") || !closed {
		t.Errorf("opened %q, closed %v", opened, closed)
	}
	cmd.SetArgs([]string{"--spec", filepath.Join(t.TempDir(), "none")})
	if err := cmd.Execute(); err == nil {
		t.Error("a missing input file accepted")
	}
}
