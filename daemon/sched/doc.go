// Package sched is the daemon's job queue and the supervision of each
// job's attempts: a bounded queue served first come first served, at most
// MaxConcurrent jobs at a time, GPU jobs admitted when the memory they
// reserve fits on their GPU (scheduler.go); one supervisor per running
// job that starts its workers through a worker.Launcher, follows their
// event lines into the job's record and event stream, and judges each
// attempt's end (supervise.go); a new attempt's run directory, resumed
// only when stamped as the job's own (rundir.go); the job's worker log,
// bounded and rotated (joblog.go); the data directory's free disk
// (disk.go); and, at start, the jobs the last daemon left (Recover, with
// proc_linux.go telling its surviving workers by PID, start time and
// command line).
//
// It reaches the store, the event hub, the metrics and the launcher
// through the narrow interfaces of joins.go, so it runs (and is tested)
// without the HTTP server; graft serve's daemon.Server builds its Joins.
//
// Supervision: a worker that dies without reporting an error (a signal,
// a crash) is restarted from its run's last checkpoint after a backoff
// doubling from Limits.Backoff, up to Limits.MaxAttempts failures; a
// worker that reports an error fails the job at once (the same spec would
// fail again). Cancel and daemon shutdown send SIGTERM (the worker stops
// after its current step; the last epoch checkpoint is intact) and
// SIGKILL after Limits.Grace; shutdown leaves the jobs queued, and every
// start requeues the jobs found queued or running, so a daemon killed
// with SIGKILL loses nothing either (its workers die with it: Linux
// parent-death signal, from a thread kept for the purpose; a survivor is
// recognised by its PID, start time and command line, and killed).
// Interrupted attempts, and starts deferred for lack of a resource, do not
// count against MaxAttempts; nor does a worker that ran out of disk (its
// error event says short "disk"): the job waits, queued, until the data
// directory's disk has MinFreeDisk free, and resumes from its checkpoint. Cancel kills after 1 s, shutdown after Grace.
//
// Workers are started through a worker.Launcher (internal/run/worker, the
// same starter graft train --device cuda uses): the supervisor
// hands it one attempt (job id, attempt number, worker kind, the resolved
// spec and its encoding for the worker's stdin, the memory footprint) and
// gets back a handle: the event stream (read with worker.Follower),
// terminate, kill and wait. worker.LocalLauncher, the default, runs
// subprocesses (process groups, SIGTERM/SIGKILL); daemon.Options.Launcher plugs in another
// (daemon/raylaunch: Ray jobs, docs/scale-out.md). A launcher whose
// workers outlive the daemon implements worker.Reattacher: a restarted daemon
// then re-attaches to the open attempt (or one submitted but never
// recorded) instead of closing it, and each attempt records its node.
package sched
