package raylaunch

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/run/worker"
)

// Launcher runs each attempt of a job as a Ray job (worker.Launcher and
// worker.Reattacher). The entrypoint is the graft worker with its input
// (internal/run/worker) on stdin, read from a file under the daemon's data directory:
// every node must see that directory at the same path (Probe checks it).
type Launcher struct {
	Client *Client
	// DaemonID tells this daemon's Ray jobs from another's (DaemonID).
	DaemonID string
	// CPUPath and CUDAPath are the worker binaries as the nodes see them
	// (graft, graft-cuda); CUDAPath empty refuses GPU jobs.
	CPUPath, CUDAPath string
	// Args are extra arguments for every worker (tests slow steps).
	Args []string
	// CPUs reserved per job (default 1): Ray places the entrypoint on a
	// node with them free, and the worker runs as many threads (Go's and
	// OpenBLAS's).
	CPUs float64
	// BaseMemory is added to a job's computed host footprint for the
	// worker's runtime and the backbone (default 512 MiB).
	BaseMemory int64
	// Poll is how often a job's status and log are read (default 500ms).
	Poll time.Duration
	// Lost is how long Ray may stay unreachable before a running attempt
	// is given up as crashed (default 2 minutes).
	Lost time.Duration
	Log  *zap.Logger
}

func (rl *Launcher) defaults() {
	if rl.CPUs <= 0 {
		rl.CPUs = 1
	}
	if rl.BaseMemory <= 0 {
		rl.BaseMemory = 512 << 20
	}
	if rl.Poll <= 0 {
		rl.Poll = 500 * time.Millisecond
	}
	if rl.Lost <= 0 {
		rl.Lost = 2 * time.Minute
	}
	if rl.Log == nil {
		rl.Log = zap.NewNop()
	}
}

// Started implements worker.Reattacher: Ray knows the attempt's
// submission id.
func (rl *Launcher) Started(jobID string, attempt int) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := rl.Client.Job(ctx, SubmissionID(rl.DaemonID, jobID, attempt))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, ErrNotFound):
		return false, nil
	}
	return false, err
}

// Submission is the Ray job for one attempt: the entrypoint, the
// resources it reserves and its environment.
func (rl *Launcher) Submission(l worker.Launch) (Submission, error) {
	rl.defaults()
	bin := rl.CPUPath
	s := Submission{
		SubmissionID: rl.launchID(l),
		NumCPUs:      rl.CPUs,
		Memory:       l.HostBytes + rl.BaseMemory,
		Metadata:     map[string]string{"graft_job": l.JobID, "graft_attempt": strconv.Itoa(l.Attempt)},
		RuntimeEnv:   &RuntimeEnv{EnvVars: threads(rl.CPUs)},
	}
	if l.Shard != nil {
		s.Metadata["graft_shard"] = strconv.Itoa(l.Shard.Index)
		s.Metadata["graft_shard_attempt"] = strconv.Itoa(l.Shard.Attempt)
	}
	if l.Kind == worker.CUDA {
		if rl.CUDAPath == "" {
			return Submission{}, fmt.Errorf("job %s wants a GPU but this daemon has no graft-cuda worker for its Ray nodes (start graft serve with --cuda-worker PATH, the path on the nodes)", l.JobID)
		}
		bin = rl.CUDAPath
		// Ray picks the GPU and sets CUDA_VISIBLE_DEVICES to it: the
		// worker uses the first (only) device it sees.
		s.NumGPUs = 1
	}
	args := []string{bin, "worker", "--job", l.JobID}
	args = append(args, rl.Args...)
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	s.Entrypoint = fmt.Sprintf("cd %s && exec %s < %s", shellQuote(l.Dir), strings.Join(q, " "), shellQuote(specPath(l)))
	return s, nil
}

// launchID is the Ray submission id of l: the job's attempt's, or its
// shard's try's.
func (rl *Launcher) launchID(l worker.Launch) string {
	if l.Shard != nil {
		return ShardSubmissionID(rl.DaemonID, l.JobID, l.Attempt, l.Shard.Index, l.Shard.Attempt)
	}
	return SubmissionID(rl.DaemonID, l.JobID, l.Attempt)
}

// threads is the worker's environment for the CPUs it reserved.
func threads(cpus float64) map[string]string { return worker.ThreadEnv(max(1, int(cpus))) }

// specPath is where an attempt's spec waits for its worker: under the
// data directory, which every node sees.
func specPath(l worker.Launch) string {
	name := fmt.Sprintf("%s-a%d", l.JobID, l.Attempt)
	if l.Shard != nil {
		name += fmt.Sprintf("-s%d-t%d", l.Shard.Index, l.Shard.Attempt)
	}
	return filepath.Join(l.Dir, "ray", name+".json")
}

// workerSpec is the worker's input as the worker on a node reads it: a
// GPU job's device becomes the first one Ray made visible, and a job
// that shards its extraction learns the cluster to run its shards on.
func (rl *Launcher) workerSpec(l worker.Launch) ([]byte, error) {
	shards := l.Shard == nil && l.Spec.ExtractWorkers > 1 && l.Spec.Sweep == nil
	if l.Kind != worker.CUDA && !shards {
		return l.Input, nil
	}
	in, err := worker.Decode(bytes.NewReader(l.Input))
	if err != nil {
		return nil, err
	}
	if l.Kind == worker.CUDA {
		in.Spec.Device = api.Device{Kind: api.CUDA}
	}
	if shards {
		in.Ray = &worker.RayShards{Address: rl.Client.Base, DaemonID: rl.DaemonID, Attempt: l.Attempt, CPUPath: rl.CPUPath, CUDAPath: rl.CUDAPath,
			Args: rl.Args, CPUs: rl.CPUs, Dir: l.Dir}
	}
	return worker.Encode(in)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Launch implements worker.Launcher: it submits the attempt as a Ray job
// (or attaches to it, when Ray has it already: a daemon that restarted)
// and follows its status and log.
func (rl *Launcher) Launch(l worker.Launch) (worker.Handle, error) {
	rl.defaults()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	id := rl.launchID(l)
	if l.Reattach {
		if _, err := rl.Client.Job(ctx, id); err != nil {
			if errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("%w: Ray has no job %s", worker.ErrGone, id)
			}
			return nil, err
		}
	} else {
		s, err := rl.Submission(l)
		if err != nil {
			return nil, err
		}
		spec, err := rl.workerSpec(l)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(specPath(l)), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(specPath(l), spec, 0o600); err != nil {
			return nil, err
		}
		if _, err := rl.Client.Submit(ctx, s); err != nil && !errors.Is(err, ErrExists) {
			return nil, err
		}
	}
	pr, pw := io.Pipe()
	w := &rayWorker{rl: rl, id: id, l: l, events: pr, done: make(chan struct{})}
	go w.follow(pw)
	return w, nil
}

// rayWorker is one attempt running as a Ray job.
type rayWorker struct {
	rl     *Launcher
	id     string
	l      worker.Launch
	events *io.PipeReader
	done   chan struct{}
	exit   worker.Exit
	node   string
	// stopping is set once the daemon asked Ray to stop the job.
	stopping atomic.Bool
}

func (w *rayWorker) Events() io.Reader { return w.events }
func (w *rayWorker) PID() int          { return 0 }
func (w *rayWorker) LaunchID() string  { return w.id }

// Terminate asks Ray to stop the job: SIGTERM to the entrypoint's
// process group (exec makes that the worker), SIGKILL after
// RAY_JOB_STOP_WAIT_TIME_S. Kill asks again: Ray escalates by itself.
func (w *rayWorker) Terminate() { w.stop() }
func (w *rayWorker) Kill()      { w.stop() }

func (w *rayWorker) stop() {
	w.stopping.Store(true)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := w.rl.Client.Stop(ctx, w.id); err != nil {
		w.rl.Log.Warn("ray: stop job", zap.String("submission_id", w.id), zap.Error(err))
	}
}

func (w *rayWorker) Wait() worker.Exit {
	<-w.done
	return w.exit
}

// follow polls the job's status and log until it ends, passing the
// worker's event lines to pw and its log lines to the job's log.
func (w *rayWorker) follow(pw *io.PipeWriter) {
	defer close(w.done)
	ctx := context.Background()
	var (
		off      int    // bytes of the log already handled
		partial  []byte // a line not yet ended
		lastOK   = time.Now()
		skipping = w.l.Reattach
	)
	for {
		info, err := w.rl.Client.Job(ctx, w.id)
		if err != nil {
			if errors.Is(err, ErrNotFound) || time.Since(lastOK) > w.rl.Lost {
				w.exit = worker.Exit{Err: fmt.Errorf("ray job %s: %w", w.id, err), Signaled: true}
				pw.Close()
				return
			}
			time.Sleep(w.rl.Poll)
			continue
		}
		lastOK = time.Now()
		w.place(ctx, info)
		// Read after the status: a job already ended has its whole log.
		// An ended job's log is read again for a while when it cannot
		// be (it lives on the job's node; a node lost takes it along).
		logs, err := w.rl.Client.Logs(ctx, w.id)
		for i := 0; err != nil && Terminal(info.Status) && i < 10; i++ {
			time.Sleep(w.rl.Poll)
			logs, err = w.rl.Client.Logs(ctx, w.id)
		}
		if err == nil && len(logs) > off {
			chunk := append(partial, logs[off:]...)
			off = len(logs)
			i := bytes.LastIndexByte(chunk, '\n')
			var lines []byte
			if i >= 0 {
				lines, partial = chunk[:i+1], append([]byte(nil), chunk[i+1:]...)
			} else {
				partial = chunk
			}
			if skipping {
				// Re-attached: what the last daemon read is in the job's
				// log already; only the latest event is passed again (it
				// may be the end).
				lines = lastEvent(lines)
				skipping = false
			}
			w.pass(pw, lines)
		}
		if info.Status == Pending && w.stopping.Load() {
			// Ray cannot stop a job it has not placed (its stop waits
			// for the job's supervisor, which waits for resources):
			// the stop it was sent ends the job as soon as it starts,
			// and the attempt ends now.
			w.exit = worker.Exit{Err: fmt.Errorf("ray job %s was stopped while waiting for resources", w.id), Signaled: true}
			pw.Close()
			return
		}
		if Terminal(info.Status) {
			if len(partial) > 0 {
				w.pass(pw, append(partial, '\n'))
			}
			w.exit = exitOf(info)
			pw.Close()
			return
		}
		time.Sleep(w.rl.Poll)
	}
}

// place reports the node the job runs on, once Ray has placed it.
func (w *rayWorker) place(ctx context.Context, info *JobInfo) {
	if info.DriverNodeID == "" || w.node != "" {
		return
	}
	w.node = info.DriverNodeID
	name := info.DriverNodeID
	if nodes, err := w.rl.Client.Nodes(ctx); err == nil {
		for _, n := range nodes {
			if n.ID == info.DriverNodeID && n.Name != "" {
				name = n.Name
			}
		}
	}
	if w.l.Placed != nil {
		w.l.Placed(name)
	}
}

// pass sends the event lines (JSON objects with an "event" key) to the
// supervisor and the rest (the worker's JSON log, Ray's own lines) to
// the job's log.
func (w *rayWorker) pass(pw *io.PipeWriter, lines []byte) {
	for len(lines) > 0 {
		i := bytes.IndexByte(lines, '\n')
		line := lines[:i+1]
		lines = lines[i+1:]
		if isEvent(line) {
			pw.Write(line)
		} else if w.l.Log != nil {
			w.l.Log.Write(line)
		}
	}
}

func isEvent(line []byte) bool {
	var probe struct {
		Event *string `json:"event"`
	}
	return bytes.HasPrefix(line, []byte("{")) && json.Unmarshal(line, &probe) == nil && probe.Event != nil
}

// lastEvent keeps the last event line of lines.
func lastEvent(lines []byte) []byte {
	ls := bytes.SplitAfter(lines, []byte("\n"))
	for i := len(ls) - 1; i >= 0; i-- {
		if isEvent(ls[i]) {
			return ls[i]
		}
	}
	return nil
}

// exitOf is how an ended Ray job's worker ended.
func exitOf(info *JobInfo) worker.Exit {
	switch info.Status {
	case Succeeded:
		return worker.Exit{}
	case Stopped:
		return worker.Exit{Err: fmt.Errorf("ray job %s was stopped", info.SubmissionID), Signaled: true}
	}
	err := fmt.Errorf("ray job %s failed: %s", info.SubmissionID, strings.TrimSpace(info.Message))
	if info.ExitCode == nil {
		// No exit status: the node or Ray's supervisor of the job died.
		return worker.Exit{Err: err, Signaled: true}
	}
	c := *info.ExitCode
	// A negative code is a signal (Python's subprocess), above 128 a
	// shell's report of one.
	return worker.Exit{Err: err, Signaled: c < 0 || c > 128}
}

// DaemonID is the id of the daemon whose data directory is dir: made at
// random on first use and kept in dir/ray/daemon-id, so it survives
// restarts and differs between daemons (whose job ids repeat).
func DaemonID(dir string) (string, error) {
	path := filepath.Join(dir, "ray", "daemon-id")
	if b, err := os.ReadFile(path); err == nil && len(bytes.TrimSpace(b)) > 0 {
		return string(bytes.TrimSpace(b)), nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	b := make([]byte, 4)
	rand.Read(b)
	id := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if errors.Is(err, os.ErrExist) {
		return DaemonID(dir) // another start wrote it first
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.WriteString(id + "\n"); err != nil {
		return "", err
	}
	return id, f.Sync()
}
