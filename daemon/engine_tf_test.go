//go:build tensorflow

package daemon_test

import (
	"context"
	"testing"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/daemon"
)

// TestTensorFlowJob: a job with "engine": "tensorflow" trains in a worker
// of a daemon whose graft has the engine (make test-tf).
func TestTensorFlowJob(t *testing.T) {
	lib, err := tf.Load()
	if err != nil {
		t.Fatal(err)
	}
	// The workers are the graft TestMain built, without the Makefile's
	// stamp of where libtensorflow is: point them at the one loaded here.
	t.Setenv(tf.EnvLib, lib)
	f := newFixture(t, 5)
	s := startServer(t, daemon.Options{AllowRoots: f.roots})
	ctx := context.Background()
	req := f.spec(2)
	req.Engine, req.Device = api.EngineTensorFlow, api.MustDevice("cpu")
	j, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Events(ctx, j.ID, 0, true, func(api.JobEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	j, err = s.Job(ctx, j.ID)
	if err != nil || j.State != api.Succeeded || j.Summary == nil {
		t.Fatalf("tensorflow job %+v, err %v", j, err)
	}
}
