package sched

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/buildinfo"
	"github.com/graft-ml/graft/internal/run/rundir"
	"github.com/graft-ml/graft/internal/run/worker"
)

// stepEventEvery throttles the step events a job's log keeps (epochs,
// features and the end are always kept).
const stepEventEvery = 500 * time.Millisecond

// supervision runs one job's attempts until the job ends, is cancelled,
// or the daemon stops.
type supervision struct {
	q      *Scheduler
	id     string
	stopCh chan struct{} // closed on cancel and on shutdown
	ended  chan struct{} // closed once the supervisor has left the scheduler
	once   sync.Once
	grace  time.Duration // SIGTERM to SIGKILL, set before stopCh closes
}

func newSupervision(q *Scheduler, id string) *supervision {
	return &supervision{q: q, id: id, stopCh: make(chan struct{}), ended: make(chan struct{})}
}

// stop asks the running worker to stop: SIGTERM, SIGKILL after grace.
func (sv *supervision) stop(grace time.Duration) {
	sv.once.Do(func() {
		sv.grace = grace
		close(sv.stopCh)
	})
}

// cancelGrace is how long a cancelled job's worker gets to finish its
// step: the job is over, and its last epoch checkpoint is intact anyway,
// so a step that runs long (a large batch) is cut short.
const cancelGrace = time.Second

func (sv *supervision) stopped() bool {
	select {
	case <-sv.stopCh:
		return true
	default:
		return false
	}
}

func (sv *supervision) log() *zap.Logger { return sv.q.d.Log.With(zap.String("job", sv.id)) }

// update changes the job and wakes its event streams.
func (sv *supervision) update(fn func(j *api.Job) []api.JobEvent) (*api.Job, error) {
	j, evs, err := sv.q.d.Store.Update(sv.id, func(j *api.Job) ([]api.JobEvent, error) { return fn(j), nil })
	if err != nil {
		sv.log().Error("store update", zap.Error(err))
	}
	sv.q.d.Hub.Notify(sv.id, evs)
	return j, err
}

func (sv *supervision) run() {
	for {
		j, err := sv.q.d.Store.Job(sv.id)
		if err != nil {
			sv.log().Error("job vanished", zap.Error(err))
			return
		}
		switch {
		case j.CancelReq:
			sv.update(func(j *api.Job) []api.JobEvent {
				j.State = api.Cancelled
				return []api.JobEvent{{Type: "cancelled"}}
			})
			return
		case sv.q.isStopping():
			sv.update(func(j *api.Job) []api.JobEvent { j.State = api.Queued; return nil })
			return
		}
		fails := j.Failures()
		if fails >= sv.q.d.Limits.MaxAttempts {
			last := j.Attempts[len(j.Attempts)-1]
			msg := fmt.Sprintf("gave up after %d failed attempts; the last: %s", fails, last.Reason)
			sv.update(func(j *api.Job) []api.JobEvent {
				j.State, j.Error = api.Failed, msg
				return []api.JobEvent{{Type: "failed", Message: msg}}
			})
			sv.q.d.Metrics.JobEnded(sv.id)
			return
		}
		if fails > 0 {
			delay := min(sv.q.d.Limits.Backoff<<(fails-1), time.Minute)
			sv.log().Info("retrying after backoff", zap.Duration("delay", delay), zap.Int("failures", fails))
			select {
			case <-time.After(delay):
			case <-sv.stopCh:
				continue // cancelled or stopping: the checks above end it
			}
		}
		// A new worker waits for room on the disk; one to re-attach to runs
		// already.
		if k := len(j.Attempts); (k == 0 || j.Attempts[k-1].End != nil) && !sv.waitDisk(j) {
			continue // cancelled or stopping: the checks above end it
		}
		if done := sv.attempt(j); done {
			sv.q.d.Metrics.JobEnded(sv.id)
			return
		}
	}
}

// outcome is how an attempt ended.
type outcome struct {
	exit, reason string
}

// attempt runs one worker for j and records how it ended; it reports
// whether the job is over (or handed back to the queue).
func (sv *supervision) attempt(j *api.Job) bool {
	log := sv.log()
	ckpt := filepath.Join(j.RunDir, rundir.LastCkpt)
	_, err := os.Stat(ckpt)
	resume := err == nil
	n, reattach := sv.nextAttempt(j)
	if reattach {
		if k := len(j.Attempts); k > 0 && j.Attempts[k-1].N == n {
			resume = j.Attempts[k-1].Resumed
		}
	}
	var note string
	if !reattach {
		resume, note = sv.q.d.prepareRun(j, resume)
	}
	var w worker.Handle
	logf, err := openLog(LogPath(sv.q.d.DataDir, j.ID), sv.q.d.Limits.MaxLogBytes)
	tail := &tailBuffer{max: 2048}
	if err == nil {
		defer logf.Close()
		if reattach {
			fmt.Fprintf(logf, "--- attempt %d, %s, re-attached after a daemon restart\n", n, time.Now().UTC().Format(time.RFC3339))
		} else {
			fmt.Fprintf(logf, "--- attempt %d, %s, resume=%v\n", n, time.Now().UTC().Format(time.RFC3339), resume)
		}
		w, err = sv.q.d.launch(j, n, resume, io.MultiWriter(logf, tail), reattach, func(node string) {
			sv.update(func(j *api.Job) []api.JobEvent {
				if k := len(j.Attempts); k > 0 && j.Attempts[k-1].N == n {
					j.Attempts[k-1].Node = node
				}
				return nil
			})
		})
	}
	if reattach && errors.Is(err, worker.ErrGone) {
		reason := fmt.Sprintf("the daemon restarted and its worker is gone (%v); the job resumes from its last checkpoint", err)
		sv.update(func(j *api.Job) []api.JobEvent {
			if k := len(j.Attempts); k == 0 || j.Attempts[k-1].N != n {
				now := time.Now().UTC()
				j.Attempts = append(j.Attempts, api.Attempt{N: n, Start: now})
			}
			closeAttempt(j, api.ExitInterrupted, reason)
			return []api.JobEvent{{Type: "interrupted", Attempt: n, Message: reason}}
		})
		return false
	}
	if err != nil {
		reason := fmt.Sprintf("cannot start the worker: %v", err)
		log.Error("worker start", zap.Error(err))
		exit := api.ExitCrashed
		if Transient(err) {
			exit = api.ExitDeferred
			reason += "; retrying: this does not count against the job's attempts"
		}
		sv.update(func(j *api.Job) []api.JobEvent {
			now := time.Now().UTC()
			j.State = api.Running
			j.Attempts = append(j.Attempts, api.Attempt{N: n, Start: now, End: &now, Exit: exit, Reason: reason, Graft: buildinfo.Version})
			return []api.JobEvent{{Type: exit, Attempt: n, Message: reason}}
		})
		if exit == api.ExitDeferred {
			sv.waitDeferred(j)
		}
		return false
	}
	pid := w.PID()
	var launchID string
	if r, ok := w.(worker.Remote); ok {
		launchID = r.LaunchID()
	}
	log.Info("worker started", zap.Int("attempt", n), zap.Int("pid", pid), zap.String("launch_id", launchID), zap.Bool("resume", resume), zap.Bool("reattached", reattach))
	sv.update(func(j *api.Job) []api.JobEvent {
		j.State = api.Running
		if k := len(j.Attempts); reattach && k > 0 && j.Attempts[k-1].N == n {
			j.Attempts[k-1].LaunchID = launchID
			return []api.JobEvent{{Type: "reattached", Attempt: n, Message: "re-attached to the running worker " + launchID}}
		}
		a := api.Attempt{N: n, PID: pid, Resumed: resume, Start: time.Now().UTC(), LaunchID: launchID, Graft: buildinfo.Version}
		if pid > 0 {
			a.ProcStart = procStart(pid)
			a.Node = localNode()
		}
		j.Attempts = append(j.Attempts, a)
		msg := "starting"
		if resume {
			msg = "resuming from " + rundir.LastCkpt
		}
		if reattach {
			msg = "re-attached to " + launchID + ", started by an earlier daemon"
		}
		if note != "" {
			msg += "; " + note
		}
		return []api.JobEvent{{Type: "attempt", Attempt: n, Message: msg}}
	})
	sv.q.d.Metrics.AttemptStarted()

	done := make(chan struct{})
	go sv.terminateOnStop(w, done)
	end := sv.follow(w.Events(), n, j.Spec.BatchSize)
	exit := w.Wait()
	close(done)

	o := sv.judge(exit, end, tail.String())
	log.Info("worker exited", zap.Int("attempt", n), zap.String("exit", o.exit), zap.String("reason", o.reason))
	sv.q.d.Metrics.AttemptEnded(o.exit)
	switch o.exit {
	case api.ExitSucceeded:
		sv.succeed(j)
		return true
	case api.ExitError:
		sv.update(func(j *api.Job) []api.JobEvent {
			closeAttempt(j, o.exit, o.reason)
			j.State, j.Error = api.Failed, o.reason
			return []api.JobEvent{{Type: "failed", Attempt: n, Message: o.reason}}
		})
		return true
	case api.ExitCancelled:
		sv.update(func(j *api.Job) []api.JobEvent {
			closeAttempt(j, o.exit, o.reason)
			j.State = api.Cancelled
			return []api.JobEvent{{Type: "cancelled", Attempt: n}}
		})
		return true
	case api.ExitInterrupted:
		sv.update(func(j *api.Job) []api.JobEvent {
			closeAttempt(j, o.exit, o.reason)
			j.State = api.Queued
			return []api.JobEvent{{Type: "interrupted", Attempt: n, Message: o.reason}}
		})
		return true
	case api.ExitDeferred: // the disk filled up: run waits for room, then resumes
		sv.update(func(j *api.Job) []api.JobEvent {
			closeAttempt(j, o.exit, o.reason)
			return []api.JobEvent{{Type: "deferred", Attempt: n, Message: o.reason}}
		})
		sv.waitDeferred(j) // a quota can be full on a disk with room: not at once again
		return false
	}
	sv.update(func(j *api.Job) []api.JobEvent {
		closeAttempt(j, o.exit, o.reason)
		return []api.JobEvent{{Type: "crashed", Attempt: n, Message: o.reason}}
	})
	return false
}

// Transient reports a resource the system may have again soon: file
// descriptors, processes, memory, disk space.
func Transient(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.EAGAIN, syscall.ENOMEM, syscall.ENOSPC, syscall.EDQUOT} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// waitDeferred waits before a deferred start is retried: the backoff,
// doubled per deferral in a row, up to 30 s, or until the job is stopped.
func (sv *supervision) waitDeferred(j *api.Job) {
	n := 0
	for i := len(j.Attempts) - 1; i >= 0 && j.Attempts[i].Exit == api.ExitDeferred; i-- {
		n++
	}
	select {
	case <-time.After(min(sv.q.d.Limits.Backoff<<min(n, 10), 30*time.Second)):
	case <-sv.stopCh:
	}
}

// waitDisk waits while the data directory's disk has less than
// --min-free-disk free (a worker could not write its run), saying so once
// in the job's events with the job queued; false when the job is stopped
// or cancelled meanwhile.
func (sv *supervision) waitDisk(j *api.Job) bool {
	told := false
	for !sv.stopped() {
		err := DiskSpace(sv.q.d.DataDir, sv.q.d.Limits.MinFreeDisk)
		if err == nil {
			return true
		}
		if !told {
			told = true
			sv.log().Warn("waiting for free disk space", zap.Error(err))
			sv.update(func(j *api.Job) []api.JobEvent {
				j.State = api.Queued
				return []api.JobEvent{{Type: "waiting", Message: err.Error() + "; the job starts (or resumes from its last checkpoint) once there is room"}}
			})
		}
		sv.waitDeferred(j)
	}
	return false
}

// judge says how an attempt ended, from the worker's exit and its lines.
func (sv *supervision) judge(exit worker.Exit, end worker.End, stderrTail string) outcome {
	j, err := sv.q.d.Store.Job(sv.id)
	errMsg := end.Err
	switch {
	case err == nil && j.CancelReq:
		return outcome{api.ExitCancelled, "cancelled on request"}
	case sv.stopped() && sv.q.isStopping():
		return outcome{api.ExitInterrupted, "the daemon stopped; the job resumes from its last checkpoint at the next start"}
	case exit.Err == nil && end.Done:
		return outcome{api.ExitSucceeded, ""}
	case errMsg != "" && end.Short == api.ShortDisk:
		// The host's disk, not the job, is at fault: the job waits for room.
		return outcome{api.ExitDeferred, errMsg + "; the job waits for free space (--min-free-disk) and resumes from its last checkpoint: this does not count against its attempts"}
	}
	if errMsg != "" && !exit.Signaled && exit.Err != nil {
		return outcome{api.ExitError, errMsg}
	}
	reason := "the worker exited without finishing the run"
	if exit.Err != nil {
		reason = "the worker died: " + exit.Err.Error()
	}
	if t := strings.TrimSpace(stderrTail); t != "" {
		reason += "; its last output: " + lastLine(t)
	}
	return outcome{api.ExitCrashed, reason}
}

// terminateOnStop asks the worker to stop when the job is cancelled or
// the daemon stops, and kills it after the grace.
func (sv *supervision) terminateOnStop(w worker.Handle, done <-chan struct{}) {
	select {
	case <-done:
		return
	case <-sv.stopCh:
	}
	w.Terminate()
	select {
	case <-done:
	case <-time.After(sv.grace):
		sv.log().Warn("worker still running after SIGTERM; killing it", zap.Int("pid", w.PID()), zap.Duration("grace", sv.grace))
		w.Kill()
	}
}

// follow reads the worker's event lines until it closes stdout, keeping
// them in the job's log (step events throttled), and returns what they
// said of the worker's end.
func (sv *supervision) follow(r io.Reader, attempt, batch int) worker.End {
	var lastKept, lastStep time.Time
	return worker.Follower{
		Skipped: func(n int) {
			sv.log().Warn("worker wrote a line over the limit; skipped it", zap.Int("bytes", n), zap.Int("limit", worker.MaxLine))
		},
		NotEvent: func(line []byte) {
			sv.log().Warn("worker wrote a line that is not an event", zap.ByteString("line", line))
		},
		Event: func(l api.Event, raw []byte) {
			now := time.Now()
			ev := api.JobEvent{Type: string(l.Kind), Attempt: attempt, Data: raw}
			switch l.Kind {
			case api.EventError:
				ev.Message, ev.Data = l.Message, nil
				if sv.stopped() {
					// A worker told to stop reports the interruption as an
					// error; the attempt's end (cancelled, interrupted) says it.
					return
				}
			case api.EventStep:
				if l.Step > 1 {
					sv.q.d.Metrics.ObserveStep(sv.id, now.Sub(lastStep), batch)
				}
				lastStep = now
				if !lastKept.IsZero() && now.Sub(lastKept) < stepEventEvery && l.Step != l.Steps {
					return
				}
				lastKept = now
			}
			sv.update(func(j *api.Job) []api.JobEvent {
				setProgress(&j.Progress, l)
				return []api.JobEvent{ev}
			})
		},
	}.Follow(r)
}

func setProgress(p *api.Progress, e api.Event) {
	switch e.Kind {
	case api.EventStep:
		p.Epoch, p.Epochs, p.Step, p.Steps, p.Loss, p.Accuracy = e.Epoch, e.Epochs, e.Step, e.Steps, e.Loss, e.Accuracy
	case api.EventExtract:
		if e.Split == api.SplitShards {
			p.ShardsDone, p.Shards = e.Step, e.Steps
		}
	case api.EventEpoch:
		p.Epoch, p.Epochs = e.Epoch, e.Epochs
		if e.Metrics != nil {
			p.Loss, p.Accuracy = e.Metrics.Loss, e.Metrics.Accuracy
		}
	}
}

// succeed registers the finished run as the next version of its model.
func (sv *supervision) succeed(j *api.Job) {
	var classes []string
	var summary api.Summary
	err := rundir.ReadJSON(j.RunDir, rundir.ClassesFile, &classes)
	if err == nil {
		err = rundir.ReadJSON(j.RunDir, rundir.SummaryFile, &summary)
	}
	if err != nil {
		msg := fmt.Sprintf("the worker finished but the run is unreadable: %v", err)
		sv.update(func(j *api.Job) []api.JobEvent {
			closeAttempt(j, api.ExitError, msg)
			j.State, j.Error = api.Failed, msg
			return []api.JobEvent{{Type: "failed", Message: msg}}
		})
		return
	}
	j, evs, err := sv.q.d.Store.Succeed(sv.id, classes, func(j *api.Job) {
		closeAttempt(j, api.ExitSucceeded, "")
		j.Summary = &summary
	}, api.JobEvent{Type: "succeeded"})
	if err != nil {
		sv.log().Error("store", zap.Error(err))
		return
	}
	sv.q.d.Hub.Notify(sv.id, evs)
	sv.log().Info("job succeeded", zap.String("model", j.Model), zap.Int("version", j.Version))
}

// killStray kills a worker left by a daemon that died and waits (a few
// seconds at most) until it is gone.
func killStray(pid int) {
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(20 * time.Millisecond)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// nextAttempt is the attempt to run for j: a new one, or, with a launcher
// whose workers outlive the daemon, the one an earlier daemon started and
// left open (or submitted but never recorded), to re-attach to.
func (sv *supervision) nextAttempt(j *api.Job) (n int, reattach bool) {
	r, ok := sv.q.d.Launcher.(worker.Reattacher)
	k := len(j.Attempts)
	if ok && k > 0 && j.Attempts[k-1].End == nil {
		return j.Attempts[k-1].N, true
	}
	n = k + 1
	if ok {
		started, err := r.Started(j.ID, n)
		if err != nil {
			sv.log().Warn("cannot tell whether the attempt was started already; starting it", zap.Int("attempt", n), zap.Error(err))
		}
		return n, started
	}
	return n, false
}

// localNode names this host for the attempts of local workers.
func localNode() string {
	h, err := os.Hostname()
	if err != nil {
		return "localhost"
	}
	return h
}
