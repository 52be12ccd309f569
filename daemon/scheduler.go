package daemon

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/worker"
)

// Scheduler errors the API maps to status codes.
var (
	ErrQueueFull    = errors.New("daemon: the job queue is full; retry later")
	ErrShuttingDown = errors.New("daemon: shutting down")
	ErrFinal        = errors.New("daemon: the job has already ended")
)

// scheduler runs queued jobs, at most MaxConcurrent at a time, each under
// a supervisor goroutine.
type scheduler struct {
	d        *joins
	mu       sync.Mutex
	queue    []string                // queued job ids, first come first served
	running  map[string]*supervision // jobs with a supervisor
	gpuBytes map[string]int64        // GPU memory reserved by running jobs
	stopping bool
	wg       sync.WaitGroup
}

func newScheduler(d *joins) *scheduler {
	return &scheduler{d: d, running: map[string]*supervision{}, gpuBytes: map[string]int64{}}
}

// recover requeues, in id order, every job the last daemon left queued or
// running: a running job's open attempt is closed as interrupted and a
// worker still alive from it is killed first.
func (q *scheduler) recover() error {
	jobs, err := q.d.store.Jobs()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State != api.Running && j.State != api.Queued {
			continue
		}
		if _, ok := q.d.launcher.(worker.Reattacher); ok && j.State == api.Running {
			// The workers outlive the daemon: the open attempt, if any,
			// is re-attached to when the job starts again.
			_, evs, err := q.d.store.Update(j.ID, func(j *api.Job) ([]api.JobEvent, error) {
				j.State = api.Queued
				return []api.JobEvent{{Type: "requeued", Message: "re-attaching after a daemon restart"}}, nil
			})
			if err != nil {
				return err
			}
			q.d.hub.notify(j.ID, evs)
		} else if j.State == api.Running {
			for _, a := range j.Attempts {
				if a.End == nil && a.PID > 0 && isWorker(a.PID, j.ID, a.ProcStart) {
					q.d.log.Warn("killing a worker left by the last daemon", zap.String("job", j.ID), zap.Int("pid", a.PID))
					killStray(a.PID)
				}
			}
			_, evs, err := q.d.store.Update(j.ID, func(j *api.Job) ([]api.JobEvent, error) {
				closeAttempt(j, api.ExitInterrupted, "the daemon stopped without ending this attempt")
				j.State = api.Queued
				return []api.JobEvent{{Type: "requeued", Message: "resuming after a daemon restart"}}, nil
			})
			if err != nil {
				return err
			}
			q.d.hub.notify(j.ID, evs)
		}
		q.mu.Lock()
		q.queue = append(q.queue, j.ID)
		q.mu.Unlock()
		q.d.log.Info("job requeued", zap.String("job", j.ID), zap.String("was", string(j.State)))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.dispatch()
	return nil
}

// closeAttempt ends j's open attempt, if any.
func closeAttempt(j *api.Job, exit, reason string) {
	if n := len(j.Attempts); n > 0 && j.Attempts[n-1].End == nil {
		now := time.Now().UTC()
		j.Attempts[n-1].End, j.Attempts[n-1].Exit, j.Attempts[n-1].Reason = &now, exit, reason
	}
}

// submit stores j as queued, unless the queue is full.
func (q *scheduler) submit(j *api.Job, init func(*api.Job)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopping {
		return ErrShuttingDown
	}
	if len(q.queue) >= q.d.opts.QueueSize {
		return ErrQueueFull
	}
	j.State = api.Queued
	ev := api.JobEvent{Type: "queued"}
	if err := q.d.store.CreateJob(j, init, ev); err != nil {
		return err
	}
	q.queue = append(q.queue, j.ID)
	q.dispatch()
	return nil
}

// dispatch starts supervisors, first come first served, while slots are
// free; a GPU job waits (letting later jobs pass) until the GPU memory it
// reserves fits beside the running jobs'. Called with q.mu held.
func (q *scheduler) dispatch() {
	for i := 0; !q.stopping && len(q.running) < q.d.opts.MaxConcurrent && i < len(q.queue); {
		id := q.queue[i]
		need := q.gpuNeed(id)
		if need > 0 && q.gpuClaimed()+need > q.d.opts.GPUMemoryBudget {
			i++
			continue
		}
		q.queue = slices.Delete(q.queue, i, i+1)
		sv := newSupervision(q, id)
		q.running[id] = sv
		q.gpuBytes[id] = need
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			sv.run()
			q.mu.Lock()
			delete(q.running, id)
			delete(q.gpuBytes, id)
			close(sv.ended)
			q.dispatch()
			q.mu.Unlock()
		}()
	}
	q.d.metrics.setQueue(len(q.queue), len(q.running))
	q.d.metrics.setGPUClaimed(q.gpuClaimed())
}

// gpuNeed is the GPU memory job id reserves (0 for CPU jobs, or when the
// daemon has no budget).
func (q *scheduler) gpuNeed(id string) int64 {
	if q.d.opts.GPUMemoryBudget <= 0 {
		return 0
	}
	j, err := q.d.store.Job(id)
	if err != nil {
		return 0
	}
	return j.GPUBytes
}

func (q *scheduler) gpuClaimed() int64 {
	var n int64
	for _, b := range q.gpuBytes {
		n += b
	}
	return n
}

// cancel ends a queued job at once and asks a running one's worker to
// stop (SIGTERM, SIGKILL after the grace period).
func (q *scheduler) cancel(id string) (*api.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, err := q.d.store.Job(id)
	if err != nil {
		return nil, err
	}
	if j.State.Final() {
		return j, fmt.Errorf("%w: %s is %s", ErrFinal, id, j.State)
	}
	if i := slices.Index(q.queue, id); i >= 0 {
		q.queue = slices.Delete(q.queue, i, i+1)
		q.stopDetached(j)
		j, evs, err := q.d.store.Update(id, func(j *api.Job) ([]api.JobEvent, error) {
			closeAttempt(j, api.ExitCancelled, "cancelled on request")
			j.State, j.CancelReq = api.Cancelled, true
			return []api.JobEvent{{Type: "cancelled", Message: "cancelled while queued"}}, nil
		})
		q.d.hub.notify(id, evs)
		q.d.metrics.setQueue(len(q.queue), len(q.running))
		return j, err
	}
	j, _, err = q.d.store.Update(id, func(j *api.Job) ([]api.JobEvent, error) {
		j.CancelReq = true
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if sv := q.running[id]; sv != nil {
		sv.stop(min(cancelGrace, q.d.opts.Grace))
	}
	return j, nil
}

// stopDetached stops the worker of a queued job's open attempt: one an
// earlier daemon started on a cluster (a Reattacher's), not yet
// re-attached to.
func (q *scheduler) stopDetached(j *api.Job) {
	r, ok := q.d.launcher.(worker.Reattacher)
	n := len(j.Attempts)
	if !ok || n == 0 || j.Attempts[n-1].End != nil {
		return
	}
	a := j.Attempts[n-1]
	go func() {
		w, err := r.Launch(worker.Launch{JobID: j.ID, Attempt: a.N, Spec: j.Spec, Dir: q.d.dataDir, Log: io.Discard, Reattach: true})
		if err != nil {
			return // gone already
		}
		w.Terminate()
		io.Copy(io.Discard, w.Events())
		w.Wait()
	}()
}

// shutdown stops taking jobs, stops every worker (SIGTERM, then SIGKILL
// after the grace period) and waits for their supervisors, which leave
// the jobs queued for the next start.
func (q *scheduler) shutdown() {
	q.mu.Lock()
	q.stopping = true
	for _, sv := range q.running {
		sv.stop(q.d.opts.Grace)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// supervised returns a channel closed once job id has no supervisor (nil
// when it has none now) and whether it is queued.
func (q *scheduler) supervised(id string) (ended <-chan struct{}, queued bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if sv := q.running[id]; sv != nil {
		ended = sv.ended
	}
	return ended, slices.Contains(q.queue, id)
}

func (q *scheduler) isStopping() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stopping
}
