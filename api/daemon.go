package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// State is where a job is in its life.
type State string

// Job states. Queued and running jobs are active; the rest are final.
const (
	Queued    State = "queued"
	Running   State = "running"
	Succeeded State = "succeeded"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// States lists every state, for metrics and validation.
var States = []State{Queued, Running, Succeeded, Failed, Cancelled}

// Final reports whether a job in state s will never change again.
func (s State) Final() bool { return s == Succeeded || s == Failed || s == Cancelled }

// JobRequest is the body of POST /v1/jobs: a training spec (the options
// of `graft train` as JSON) and, optionally, the model name under which
// the result is registered (default: the job id).
type JobRequest struct {
	JobSpec
	// Model is the name the result is registered under (default: the job
	// id).
	Model string `json:"model,omitempty"`
	// GPUBytes is set by the daemon (its admission control), never read
	// from a request.
	GPUBytes int64 `json:"-"`
	// HostBytes is the host memory the job needs, set by the daemon.
	HostBytes int64 `json:"-"`
}

// Exit reasons of an attempt.
const (
	ExitSucceeded   = "succeeded"   // the worker finished the run
	ExitError       = "error"       // the worker reported an error: not retried
	ExitCrashed     = "crashed"     // the worker died (signal, no error report): retried
	ExitCancelled   = "cancelled"   // stopped on request
	ExitInterrupted = "interrupted" // the daemon stopped or died: resumed, not counted
	ExitDeferred    = "deferred"    // the worker could not start, or go on, for lack of a resource (file descriptors, memory, disk): retried (from the last checkpoint), not counted
)

// Attempt is one run of a worker for a job.
type Attempt struct {
	N   int `json:"n"`
	PID int `json:"pid,omitempty"`
	// ProcStart is the worker's start time in clock ticks since boot
	// (Linux): with PID, it tells the worker from a later process that
	// reuses its PID.
	ProcStart uint64     `json:"proc_start,omitempty"`
	Resumed   bool       `json:"resumed"` // started from a checkpoint
	Start     time.Time  `json:"start"`
	End       *time.Time `json:"end,omitempty"`
	Exit      string     `json:"exit,omitempty"`   // one of the Exit constants
	Reason    string     `json:"reason,omitempty"` // what happened, in words
	// Node is the host the worker ran on: this host's name for local
	// workers, the cluster's node name for launched ones.
	Node string `json:"node,omitempty"`
	// LaunchID is the worker's id on a cluster (a Ray submission id).
	LaunchID string `json:"launch_id,omitempty"`
	// Graft is the version of the graft serve that started the attempt:
	// after an upgrade in place, the attempts before and after it say
	// which binary ran them.
	Graft string `json:"graft,omitempty"`
}

// Progress is the latest training progress of a job.
type Progress struct {
	Epoch    int     `json:"epoch,omitempty"`
	Epochs   int     `json:"epochs,omitempty"`
	Step     int     `json:"step,omitempty"`
	Steps    int     `json:"steps,omitempty"`
	Loss     float64 `json:"loss,omitempty"`
	Accuracy float64 `json:"accuracy,omitempty"`
	// ShardsDone of Shards: a sharded extraction's shards, before the
	// epochs (extract_workers).
	ShardsDone int `json:"shards_done,omitempty"`
	Shards     int `json:"shards,omitempty"`
}

// Phase says where the job stands for a one-cell display: "shards 3/8"
// while its shards extract, else "epoch 2/10" of the job's epochs.
func (p Progress) Phase(epochs int) string {
	if p.Epoch == 0 && p.Shards > 0 {
		return fmt.Sprintf("shards %d/%d", p.ShardsDone, p.Shards)
	}
	return fmt.Sprintf("epoch %d/%d", p.Epoch, epochs)
}

// Job is a training job as the daemon records it. Its stored record
// carries the contract's version in Format (Version is the model's).
type Job struct {
	Format    int       `json:"format,omitempty"`
	ID        string    `json:"id"`
	State     State     `json:"state"`
	Spec      RunSpec   `json:"spec"`
	Model     string    `json:"model"`
	Version   int       `json:"version,omitempty"` // the model version once succeeded
	RunDir    string    `json:"run_dir"`
	Created   time.Time `json:"created"`
	Updated   time.Time `json:"updated"`
	Attempts  []Attempt `json:"attempts"`
	Progress  Progress  `json:"progress"`
	Error     string    `json:"error,omitempty"`
	Summary   *Summary  `json:"summary,omitempty"`
	CancelReq bool      `json:"cancel_requested,omitempty"`
	// GPUBytes is the device memory a GPU job reserves while it runs,
	// computed from its data, tap and head.
	GPUBytes int64 `json:"gpu_bytes,omitempty"`
	// HostBytes is the host memory the job needs (head and optimizer
	// state, step scratch, resident features), sized at submission.
	HostBytes int64 `json:"host_bytes,omitempty"`
}

// Failures counts the attempts that count against the retry limit:
// crashes and reported errors, not cancellations or daemon restarts.
func (j *Job) Failures() int {
	n := 0
	for _, a := range j.Attempts {
		if a.Exit == ExitCrashed || a.Exit == ExitError {
			n++
		}
	}
	return n
}

// JobList is the body of GET /v1/jobs: one page of jobs, each without
// its summary (GET /v1/jobs/ID has it).
type JobList struct {
	Jobs []Job `json:"jobs"`
	// Next is the cursor of the next page (pass it as after), empty on the
	// last page.
	Next string `json:"next,omitempty"`
}

// JobEvent is one entry of a job's event log: the daemon's own (queued,
// attempt, retry, succeeded, failed, cancelled, interrupted, deferred,
// waiting) and the
// worker's training events (features, step, epoch, done). Seq numbers the
// events of a job from 1; SSE sends it as the event id.
type JobEvent struct {
	Seq     uint64          `json:"seq"`
	Time    time.Time       `json:"time"`
	Type    string          `json:"type"`
	Attempt int             `json:"attempt,omitempty"`
	Message string          `json:"message,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"` // an Event for training events
}

// Model is a succeeded job's run registered for serving.
type Model struct {
	Name    string    `json:"name"`
	Version int       `json:"version"`
	JobID   string    `json:"job_id"`
	RunDir  string    `json:"run_dir"`
	Classes []string  `json:"classes"`
	Created time.Time `json:"created"`
	// ClassCount is set in the model list when Classes holds only the
	// first MaxExamples of them: the model's own GET has all.
	ClassCount int `json:"class_count,omitempty"`
}

// ModelList is the body of GET /v1/models: one page of model versions.
type ModelList struct {
	Models []Model `json:"models"`
	// Next is the cursor of the next page (pass it as after), empty on the
	// last page.
	Next string `json:"next,omitempty"`
}

// Deleted answers a DELETE of a job or a model: what went, and the
// versions of a deleted job that were kept (DELETE with ?models=true
// removes them too), whose run directory stays while they are served.
type Deleted struct {
	Job    string       `json:"job,omitempty"`
	Models []VersionRef `json:"models"`
	Kept   []VersionRef `json:"kept,omitempty"`
}

// VersionRef names a model version.
type VersionRef struct {
	Name    string `json:"name"`
	Version int    `json:"version"`
}

// Image is one input image: base64 of an encoded PNG or JPEG, as in
// TensorFlow Serving's JSON API.
type Image struct {
	B64 string `json:"b64"`
}

// PredictRequest is TensorFlow Serving's request: the row form
// (instances) or the columnar form (inputs), either a list of images.
type PredictRequest struct {
	Instances []Image `json:"instances,omitempty"`
	Inputs    []Image `json:"inputs,omitempty"`
}

// PredictResponse answers instances with predictions and inputs with
// outputs: one row of class probabilities per image, in the model's class
// order (Model.Classes), as TensorFlow Serving answers. Beside them, which
// TensorFlow Serving's clients pass over, the names: each image's top
// class and the names of the rows' columns.
type PredictResponse struct {
	Predictions [][]float32 `json:"predictions,omitempty"`
	Outputs     [][]float32 `json:"outputs,omitempty"`
	Classes     []string    `json:"classes,omitempty"`
	ClassNames  []string    `json:"class_names,omitempty"`
}

// Error is every error answer; Fields lists invalid spec fields.
type Error struct {
	Error  string       `json:"error"`
	Fields []FieldError `json:"fields,omitempty"`
}
