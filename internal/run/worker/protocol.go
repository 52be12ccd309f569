package worker

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/extract/shard"
)

// Input is a worker's stdin.
type Input struct {
	Version int `json:"version"`
	// Job names the job in the worker's logs (the daemon's job id).
	Job  string      `json:"job,omitempty"`
	Spec api.RunSpec `json:"spec"`
	// Resume continues the run in Spec.Out from its last checkpoint.
	Resume bool `json:"resume,omitempty"`
	Log    Log  `json:"log"`
	// Private makes what the worker creates (run directory, cache
	// entries) readable by its user only, as the daemon's data is.
	Private bool `json:"private,omitempty"`
	// MaxImagePixels is the runner's --max-image-pixels (<= 0: the
	// default): a larger image is a bad file.
	MaxImagePixels int64 `json:"max_image_pixels,omitempty"`
	// CacheMaxBytes caps the feature cache (train.Options.CacheMaxBytes:
	// < 0 the default, 0, as from a runner that sends none, no cap).
	CacheMaxBytes int64 `json:"cache_max_bytes,omitempty"`
	// StepDelay sleeps after every training step: tests and benchmarks
	// make tiny jobs last long enough to interrupt.
	StepDelay time.Duration `json:"step_delay,omitempty"`
	// Shard, when set, makes the worker extract that shard of the run in
	// Spec.Out into the feature cache, and nothing else (shard.go).
	Shard *shard.Task `json:"shard,omitempty"`
	// KillAfter, for tests only, kills a shard's worker (SIGKILL) after
	// that many features: a worker lost mid-shard.
	KillAfter int `json:"kill_after,omitempty"`
	// ShardDelay, for tests only, makes a shard's worker sleep after
	// every batch it extracts: a shard long enough to interrupt.
	ShardDelay time.Duration `json:"shard_delay,omitempty"`
	// Ray, when set, runs the job's shards (spec.extract_workers) as Ray
	// jobs on this cluster instead of local processes: the Ray launcher
	// sets it in the input of the job's own worker.
	Ray *RayShards `json:"ray,omitempty"`
}

// RayShards is where and how a job's worker submits its shards as Ray
// jobs: what the daemon's Ray launcher knows and the worker does not.
type RayShards struct {
	// Address is the Ray dashboard's, DaemonID the daemon's (submission
	// ids name daemon, job, attempt, shard and shard attempt).
	Address  string `json:"address"`
	DaemonID string `json:"daemon_id"`
	// Attempt is the job's attempt this worker runs.
	Attempt int `json:"attempt"`
	// CPUPath and CUDAPath are the worker binaries as the nodes see
	// them; Args extra arguments for every worker; CPUs each shard's
	// reservation.
	CPUPath  string   `json:"cpu_path"`
	CUDAPath string   `json:"cuda_path,omitempty"`
	Args     []string `json:"args,omitempty"`
	CPUs     float64  `json:"cpus,omitempty"`
	// Dir is the daemon's data directory, the shard workers' working
	// directory and where their inputs wait (every node sees it).
	Dir string `json:"dir"`
}

// Log is how the worker logs on its stderr (graft's --log-format and
// --log-level).
type Log struct {
	Format string `json:"format,omitempty"` // json (the default) or console
	Level  string `json:"level,omitempty"`  // debug, info (the default), warn, error
}

// Encode writes in as a worker's stdin, at the current version.
func Encode(in Input) ([]byte, error) {
	in.Version, in.Spec.Version = api.Version, api.Version
	return json.Marshal(in)
}

// Decode reads a worker's stdin.
func Decode(r io.Reader) (Input, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return Input{}, fmt.Errorf("worker: input: %w", err)
	}
	var probe struct {
		Version *int            `json:"version"`
		Spec    json.RawMessage `json:"spec"`
	}
	if err := json.Unmarshal(raw, &probe); err != nil {
		return Input{}, fmt.Errorf("worker: input: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var in Input
	if probe.Spec == nil { // version 0: the job record alone
		if err := dec.Decode(&in.Spec); err != nil {
			return Input{}, fmt.Errorf("worker: input (a job record): %w", err)
		}
		return in, nil
	}
	if err := dec.Decode(&in); err != nil {
		return Input{}, fmt.Errorf("worker: input: %w", err)
	}
	if err := api.CheckVersion("the worker's input", in.Version); err != nil {
		return Input{}, fmt.Errorf("worker: %w", err)
	}
	return in, nil
}

// MaxLine bounds one event line; a longer one is skipped (and the pipe
// kept drained, so the worker never blocks on it).
const MaxLine = 8 << 20

// Events reads a worker's event lines.
type Events struct {
	r   *bufio.Reader
	max int
}

// NewEvents reads the events of r, lines of at most MaxLine bytes.
func NewEvents(r io.Reader) *Events { return newEvents(r, MaxLine) }

func newEvents(r io.Reader, max int) *Events {
	return &Events{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next line that fits (without its newline) and the
// bytes of the over-long lines it skipped on the way; io.EOF at the end.
func (lr *Events) Next() (line []byte, skipped int, err error) {
	var buf []byte
	for {
		chunk, err := lr.r.ReadSlice('\n')
		if len(buf)+len(chunk) > lr.max+1 { // over the limit: drop to the newline
			skipped += len(buf) + len(chunk)
			buf = buf[:0]
			for errors.Is(err, bufio.ErrBufferFull) {
				chunk, err = lr.r.ReadSlice('\n')
				skipped += len(chunk)
			}
			if err != nil {
				return nil, skipped, err
			}
			continue
		}
		buf = append(buf, chunk...)
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil && len(buf) == 0:
			return nil, skipped, err
		}
		return bytes.TrimRight(buf, "\r\n"), skipped, nil
	}
}
