package sched

import (
	"io"
	"path/filepath"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/worker"
)

// The joins of the scheduler and its supervisors: narrow interfaces onto
// the store, the event hub, the metrics and the launcher, so that both run
// (and are tested) without the HTTP server. The daemon's Server builds one
// Joins from its parts.

// Store is what scheduling and supervision read and write of the store
// (*store.Store).
type Store interface {
	Job(id string) (*api.Job, error)
	Jobs() ([]api.Job, error)
	CreateJob(j *api.Job, init func(j *api.Job), evs ...api.JobEvent) error
	Update(id string, fn func(j *api.Job) ([]api.JobEvent, error)) (*api.Job, []api.JobEvent, error)
	Succeed(id string, classes []string, fn func(j *api.Job), evs ...api.JobEvent) (*api.Job, []api.JobEvent, error)
}

// Hub wakes a job's event streams (the daemon's hub).
type Hub interface {
	Notify(id string, evs []api.JobEvent)
}

// Metrics records what /metrics reports of jobs (the daemon's metrics).
type Metrics interface {
	SetQueue(queued, running int)
	SetGPUClaimed(n int64)
	ObserveStep(job string, d time.Duration, batch int)
	JobEnded(job string)
	AttemptStarted()
	AttemptEnded(exit string)
}

// Limits are the daemon's options that scheduling and supervision read
// (daemon.Options documents each).
type Limits struct {
	MaxConcurrent   int
	QueueSize       int
	MaxAttempts     int
	Backoff         time.Duration
	Grace           time.Duration
	GPUMemoryBudget int64
	MaxImagePixels  int64
	CacheMaxBytes   int64
	MaxLogBytes     int64
	MinFreeDisk     int64
}

// Joins is everything the scheduler and the supervisors use.
type Joins struct {
	Store    Store
	Hub      Hub
	Metrics  Metrics
	Launcher worker.Launcher
	Log      *zap.Logger
	Limits   Limits
	DataDir  string
	StoreID  string // the store's identity, stamped in run directories
}

// LogPath is job id's worker log in the data directory dir.
func LogPath(dir, id string) string { return filepath.Join(dir, "logs", id+".log") }

// launch starts attempt n of j through the launcher (or attaches to it:
// reattach; placed learns the node it runs on). CUDA jobs (device
// cuda or cuda:N) need a graft-cuda worker, which speaks the same
// protocol.
func (d *Joins) launch(j *api.Job, n int, resume bool, log io.Writer, reattach bool, placed func(string)) (worker.Handle, error) {
	in, err := worker.Encode(worker.Input{Job: j.ID, Spec: j.Spec, Resume: resume, Private: true, MaxImagePixels: d.Limits.MaxImagePixels, CacheMaxBytes: d.Limits.CacheMaxBytes, Log: worker.Log{Format: "json", Level: d.Log.Level().String()}})
	if err != nil {
		return nil, err
	}
	kind := worker.CPU
	if j.Spec.Device.IsCUDA() {
		kind = worker.CUDA
	}
	return d.Launcher.Launch(worker.Launch{JobID: j.ID, Attempt: n, Kind: kind, Spec: j.Spec, Input: in,
		GPUBytes: j.GPUBytes, HostBytes: j.HostBytes, Dir: d.DataDir, Log: log, Reattach: reattach, Placed: placed})
}
