package daemon

import (
	"io"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/worker"
)

// The joins of the scheduler and its supervisors: narrow interfaces onto
// the store, the event hub, the metrics and the launcher, so that both run
// (and are tested) without the HTTP server. Server builds one joins from
// its parts.

// jobStore is what scheduling and supervision read and write of the
// store (*store.Store).
type jobStore interface {
	Job(id string) (*api.Job, error)
	Jobs() ([]api.Job, error)
	CreateJob(j *api.Job, init func(j *api.Job), evs ...api.JobEvent) error
	Update(id string, fn func(j *api.Job) ([]api.JobEvent, error)) (*api.Job, []api.JobEvent, error)
	Succeed(id string, classes []string, fn func(j *api.Job), evs ...api.JobEvent) (*api.Job, []api.JobEvent, error)
}

// eventHub wakes a job's event streams (*hub).
type eventHub interface {
	notify(id string, evs []api.JobEvent)
}

// jobMetrics records what /metrics reports of jobs (*metrics).
type jobMetrics interface {
	setQueue(queued, running int)
	setGPUClaimed(n int64)
	observeStep(job string, d time.Duration, batch int)
	jobEnded(job string)
	attemptStarted()
	attemptEnded(exit string)
}

// joins is everything the scheduler and the supervisors use.
type joins struct {
	store    jobStore
	hub      eventHub
	metrics  jobMetrics
	launcher worker.Launcher
	log      *zap.Logger
	// opts are the daemon's options; scheduling reads MaxConcurrent,
	// QueueSize, MaxAttempts, Backoff, Grace and GPUMemoryBudget.
	opts    Options
	dataDir string
	storeID string // the store's identity, stamped in run directories
}

func (d *joins) logPath(id string) string { return filepath.Join(d.dataDir, "logs", id+".log") }

// launch starts attempt n of j through the launcher (or attaches to it:
// reattach; placed learns the node it runs on). CUDA jobs (device
// cuda or cuda:N) need a graft-cuda worker, which speaks the same
// protocol.
func (d *joins) launch(j *api.Job, n int, resume bool, log io.Writer, reattach bool, placed func(string)) (worker.Handle, error) {
	in, err := worker.Encode(worker.Input{Job: j.ID, Spec: j.Spec, Resume: resume, Private: true, MaxImagePixels: d.opts.MaxImagePixels, CacheMaxBytes: d.opts.CacheMaxBytes, Log: worker.Log{Format: "json", Level: d.log.Level().String()}})
	if err != nil {
		return nil, err
	}
	kind := worker.CPU
	if j.Spec.Device.IsCUDA() {
		kind = worker.CUDA
	}
	return d.launcher.Launch(worker.Launch{JobID: j.ID, Attempt: n, Kind: kind, Spec: j.Spec, Input: in,
		GPUBytes: j.GPUBytes, HostBytes: j.HostBytes, Dir: d.dataDir, Log: log, Reattach: reattach, Placed: placed})
}
