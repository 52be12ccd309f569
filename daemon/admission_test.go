package daemon_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/daemon"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
)

// cpuStandIn is a "graft-cuda worker" for a host without a GPU: a real
// subprocess that rewrites the job's device to cpu and runs graft worker.
func cpuStandIn(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "graft-cuda")
	script := "#!/bin/sh\nsed 's/\"device\":\"cuda[^\"]*\"/\"device\":\"cpu\"/' | exec " + graftBin + " \"$@\"\n"
	if err := os.WriteFile(p, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// footprintOf is the memory the daemon admits a job of spec s by.
func footprintOf(t *testing.T, s api.JobSpec) train.Footprint {
	t.Helper()
	j, err := job.New(s, job.Where{Out: "unused"})
	if err != nil {
		t.Fatal(err)
	}
	fp, err := train.EstimateFootprint(j)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

// TestGPUAdmission sizes GPU jobs from their data, tap and head, refuses
// one that cannot fit, and runs two that fit only one at a time one after
// the other.
func TestGPUAdmission(t *testing.T) {
	f := newFixture(t, 5)
	req := f.spec(2)
	req.Device = api.MustDevice("cuda")
	fp := footprintOf(t, req.JobSpec)
	budget := fp.Resident() + fp.Resident()/2 // one job fits, two do not
	s := startServer(t, daemon.Options{AllowRoots: f.roots, MaxConcurrent: 2, GPUMemoryBudget: budget,
		CUDAWorkerPath: cpuStandIn(t), WorkerArgs: []string{"--step-delay", "30ms"}})
	ctx := context.Background()

	a, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if a.GPUBytes != fp.Resident() {
		t.Errorf("job reserves %d bytes, its resident footprint is %d", a.GPUBytes, fp.Resident())
	}
	b, err := s.Submit(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	// While either runs, the other must not: poll until both have ended.
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		ja, err1 := s.Job(ctx, a.ID)
		jb, err2 := s.Job(ctx, b.ID)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		if ja.State == api.Running && jb.State == api.Running {
			// The two reads are not one moment: a may have ended and b
			// started between them. a still running after b's read is
			// an overlap.
			if again, err := s.Job(ctx, a.ID); err == nil && again.State == api.Running {
				t.Fatal("both GPU jobs run at once, over the budget")
			}
		}
		if ja.State.Final() && jb.State.Final() {
			break
		}
	}
	for _, id := range []string{a.ID, b.ID} {
		if j := waitFinal(t, s.Client, id); j.State != api.Succeeded {
			t.Fatalf("job %s: %s %s", id, j.State, j.Error)
		}
	}
	ja, _ := s.Job(ctx, a.ID)
	jb, _ := s.Job(ctx, b.ID)
	if !jb.Attempts[0].Start.After(*ja.Attempts[0].End) && !jb.Attempts[0].Start.Equal(*ja.Attempts[0].End) {
		t.Errorf("the GPU jobs overlapped: a ended %v, b started %v", ja.Attempts[0].End, jb.Attempts[0].Start)
	}

	// A budget below even the streaming footprint: refused with numbers.
	tiny := startServer(t, daemon.Options{AllowRoots: f.roots, GPUMemoryBudget: fp.Streaming() - 1, CUDAWorkerPath: cpuStandIn(t)})
	_, err = tiny.Submit(ctx, req)
	if apiStatus(err) != 422 || !strings.Contains(err.Error(), "--gpu-memory-budget") {
		t.Errorf("job over the budget: %v", err)
	}
}
