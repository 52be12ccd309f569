package sched

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/devices"
	"github.com/graft-ml/graft/internal/run/worker"
)

// Scheduler errors the API maps to status codes.
var (
	ErrQueueFull    = errors.New("daemon: the job queue is full; retry later")
	ErrShuttingDown = errors.New("daemon: shutting down")
	ErrFinal        = errors.New("daemon: the job has already ended")
)

// Scheduler runs queued jobs, at most MaxConcurrent at a time, each under
// a supervisor goroutine.
type Scheduler struct {
	d        *Joins
	mu       sync.Mutex
	queue    []string                // queued job ids, first come first served
	running  map[string]*supervision // jobs with a supervisor
	gpuBytes map[string]int64        // GPU memory reserved by running jobs
	gpuOn    map[string]int          // the GPU (pool) each reservation is on
	// gpus are the host's GPUs (setGPUs), one memory pool each; none
	// known: one pool of GPUMemoryBudget, whatever cuda:N a job names.
	gpus     []devices.Device
	stopping bool
	wg       sync.WaitGroup
}

// New is a scheduler on its joins; Recover then requeues what the last
// daemon left.
func New(d *Joins) *Scheduler {
	return &Scheduler{d: d, running: map[string]*supervision{}, gpuBytes: map[string]int64{}, gpuOn: map[string]int{}}
}

// Recover requeues, in id order, every job the last daemon left queued or
// running: a running job's open attempt is closed as interrupted and a
// worker still alive from it is killed first.
func (q *Scheduler) Recover() error {
	jobs, err := q.d.Store.Jobs()
	if err != nil {
		return err
	}
	for _, j := range jobs {
		if j.State != api.Running && j.State != api.Queued {
			continue
		}
		if _, ok := q.d.Launcher.(worker.Reattacher); ok && j.State == api.Running {
			// The workers outlive the daemon: the open attempt, if any,
			// is re-attached to when the job starts again.
			_, evs, err := q.d.Store.Update(j.ID, func(j *api.Job) ([]api.JobEvent, error) {
				j.State = api.Queued
				return []api.JobEvent{{Type: "requeued", Message: "re-attaching after a daemon restart"}}, nil
			})
			if err != nil {
				return err
			}
			q.d.Hub.Notify(j.ID, evs)
		} else if j.State == api.Running {
			for _, a := range j.Attempts {
				if a.End == nil && a.PID > 0 && isWorker(a.PID, j.ID, a.ProcStart) {
					q.d.Log.Warn("killing a worker left by the last daemon", zap.String("job", j.ID), zap.Int("pid", a.PID))
					killStray(a.PID)
				}
			}
			_, evs, err := q.d.Store.Update(j.ID, func(j *api.Job) ([]api.JobEvent, error) {
				closeAttempt(j, api.ExitInterrupted, "the daemon stopped without ending this attempt")
				j.State = api.Queued
				return []api.JobEvent{{Type: "requeued", Message: "resuming after a daemon restart"}}, nil
			})
			if err != nil {
				return err
			}
			q.d.Hub.Notify(j.ID, evs)
		}
		q.mu.Lock()
		q.queue = append(q.queue, j.ID)
		q.mu.Unlock()
		q.d.Log.Info("job requeued", zap.String("job", j.ID), zap.String("was", string(j.State)))
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

// Submit stores j as queued, unless the queue is full.
func (q *Scheduler) Submit(j *api.Job, init func(*api.Job)) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.stopping {
		return ErrShuttingDown
	}
	if len(q.queue) >= q.d.Limits.QueueSize {
		return ErrQueueFull
	}
	j.State = api.Queued
	ev := api.JobEvent{Type: "queued"}
	if err := q.d.Store.CreateJob(j, init, ev); err != nil {
		return err
	}
	q.queue = append(q.queue, j.ID)
	q.dispatch()
	return nil
}

// dispatch starts supervisors, first come first served, while slots are
// free; a GPU job waits (letting later jobs pass) until the GPU memory it
// reserves fits beside the running jobs' on its GPU. Called with q.mu
// held.
func (q *Scheduler) dispatch() {
	for i := 0; !q.stopping && len(q.running) < q.d.Limits.MaxConcurrent && i < len(q.queue); {
		id := q.queue[i]
		need, pool := q.gpuNeed(id)
		if c := q.capacity(pool); need > 0 && c > 0 && q.claimedOn(pool)+need > c {
			i++
			continue
		}
		q.queue = slices.Delete(q.queue, i, i+1)
		sv := newSupervision(q, id)
		q.running[id] = sv
		q.gpuBytes[id], q.gpuOn[id] = need, pool
		q.wg.Add(1)
		go func() {
			defer q.wg.Done()
			sv.run()
			q.mu.Lock()
			delete(q.running, id)
			delete(q.gpuBytes, id)
			delete(q.gpuOn, id)
			close(sv.ended)
			q.dispatch()
			q.mu.Unlock()
		}()
	}
	q.d.Metrics.SetQueue(len(q.queue), len(q.running))
	q.d.Metrics.SetGPUClaimed(q.gpuClaimed())
}

// gpuNeed is the GPU memory job id reserves (0 for CPU jobs, or when the
// daemon neither has a budget nor knows its GPUs) and the pool it is
// reserved in.
func (q *Scheduler) gpuNeed(id string) (int64, int) {
	if q.d.Limits.GPUMemoryBudget <= 0 && len(q.gpus) == 0 {
		return 0, 0
	}
	j, err := q.d.Store.Job(id)
	if err != nil {
		return 0, 0
	}
	return j.GPUBytes, q.poolOf(j.Spec.Device)
}

// poolOf is the memory pool a GPU job's reservation is in: its GPU's,
// or the one pool when the GPUs are not known.
func (q *Scheduler) poolOf(d api.Device) int {
	if len(q.gpus) == 0 {
		return 0
	}
	return d.Index
}

// SetGPUs makes admission per GPU: each of gpus (cuda:0 first) is a pool
// of its memory, capped by GPUMemoryBudget.
func (q *Scheduler) SetGPUs(gpus []devices.Device) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.gpus = gpus
}

// capacity is the GPU memory jobs may reserve together in pool i:
// GPUMemoryBudget, or GPU i's memory when that is less (or there is no
// budget); 0 for no limit.
func (q *Scheduler) capacity(i int) int64 {
	c := q.d.Limits.GPUMemoryBudget
	if i < len(q.gpus) {
		if m := int64(q.gpus[i].MemoryBytes); m > 0 && (c <= 0 || m < c) {
			c = m
		}
	}
	return max(c, 0)
}

// CapacityOf is capacity(i), locked.
func (q *Scheduler) CapacityOf(i int) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.capacity(q.poolOf(api.Device{Kind: api.CUDA, Index: i}))
}

// claimedOn is the GPU memory the running jobs reserve in pool i.
func (q *Scheduler) claimedOn(i int) int64 {
	var n int64
	for id, b := range q.gpuBytes {
		if q.gpuOn[id] == i {
			n += b
		}
	}
	return n
}

// PickGPU is the GPU for a job asking any GPU (auto): among those whose
// capacity fits need(capacity), the one with the most room left after the
// reservations of the jobs running or queued on it, the lowest number on
// a tie; -1 when none fits. Without known GPUs it is 0.
func (q *Scheduler) PickGPU(need func(capacity int64) (int64, bool)) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.gpus) == 0 {
		return 0
	}
	claimed := make([]int64, len(q.gpus))
	for id, b := range q.gpuBytes {
		if g := q.gpuOn[id]; g < len(claimed) {
			claimed[g] += b
		}
	}
	for _, id := range q.queue {
		if j, err := q.d.Store.Job(id); err == nil && j.Spec.Device.IsCUDA() && j.Spec.Device.Index < len(claimed) {
			claimed[j.Spec.Device.Index] += j.GPUBytes
		}
	}
	best, bestRoom := -1, int64(0)
	for i := range q.gpus {
		c := q.capacity(i)
		n, ok := need(c)
		if c > 0 && !ok {
			continue
		}
		room := c - claimed[i] - n
		if c == 0 {
			room = 1<<63 - 1 - claimed[i]
		}
		if best < 0 || room > bestRoom {
			best, bestRoom = i, room
		}
	}
	return best
}

func (q *Scheduler) gpuClaimed() int64 {
	var n int64
	for _, b := range q.gpuBytes {
		n += b
	}
	return n
}

// Cancel ends a queued job at once and asks a running one's worker to
// stop (SIGTERM, SIGKILL after the grace period).
func (q *Scheduler) Cancel(id string) (*api.Job, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	j, err := q.d.Store.Job(id)
	if err != nil {
		return nil, err
	}
	if j.State.Final() {
		return j, fmt.Errorf("%w: %s is %s", ErrFinal, id, j.State)
	}
	if i := slices.Index(q.queue, id); i >= 0 {
		q.queue = slices.Delete(q.queue, i, i+1)
		q.stopDetached(j)
		j, evs, err := q.d.Store.Update(id, func(j *api.Job) ([]api.JobEvent, error) {
			closeAttempt(j, api.ExitCancelled, "cancelled on request")
			j.State, j.CancelReq = api.Cancelled, true
			return []api.JobEvent{{Type: "cancelled", Message: "cancelled while queued"}}, nil
		})
		q.d.Hub.Notify(id, evs)
		q.d.Metrics.SetQueue(len(q.queue), len(q.running))
		return j, err
	}
	j, _, err = q.d.Store.Update(id, func(j *api.Job) ([]api.JobEvent, error) {
		j.CancelReq = true
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	if sv := q.running[id]; sv != nil {
		sv.stop(min(cancelGrace, q.d.Limits.Grace))
	}
	return j, nil
}

// stopDetached stops the worker of a queued job's open attempt: one an
// earlier daemon started on a cluster (a Reattacher's), not yet
// re-attached to.
func (q *Scheduler) stopDetached(j *api.Job) {
	r, ok := q.d.Launcher.(worker.Reattacher)
	n := len(j.Attempts)
	if !ok || n == 0 || j.Attempts[n-1].End != nil {
		return
	}
	a := j.Attempts[n-1]
	go func() {
		w, err := r.Launch(worker.Launch{JobID: j.ID, Attempt: a.N, Spec: j.Spec, Dir: q.d.DataDir, Log: io.Discard, Reattach: true})
		if err != nil {
			return // gone already
		}
		w.Terminate()
		io.Copy(io.Discard, w.Events())
		w.Wait()
	}()
}

// Shutdown stops taking jobs, stops every worker (SIGTERM, then SIGKILL
// after the grace period) and waits for their supervisors, which leave
// the jobs queued for the next start.
func (q *Scheduler) Shutdown() {
	q.mu.Lock()
	q.stopping = true
	for _, sv := range q.running {
		sv.stop(q.d.Limits.Grace)
	}
	q.mu.Unlock()
	q.wg.Wait()
}

// Supervised returns a channel closed once job id has no supervisor (nil
// when it has none now) and whether it is queued.
func (q *Scheduler) Supervised(id string) (ended <-chan struct{}, queued bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if sv := q.running[id]; sv != nil {
		ended = sv.ended
	}
	return ended, slices.Contains(q.queue, id)
}

func (q *Scheduler) isStopping() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stopping
}
