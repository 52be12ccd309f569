package api

import (
	"fmt"
	"strconv"
	"strings"
)

// Version is the version of the job contract this graft writes into every
// document it stores or sends: a run's config.json, the daemon's job
// records, a worker's input. A document without the field is version 0,
// written by a graft before it: its fields mean what they mean in version
// 1, so it is read the same way.
const Version = 1

// CheckVersion refuses a document written by a newer graft.
func CheckVersion(doc string, v int) error {
	if v < 0 || v > Version {
		return fmt.Errorf("%s has version %d; this graft reads versions up to %d: use the graft that wrote it, or a newer one", doc, v, Version)
	}
	return nil
}

// Engine runs the backbone.
type Engine string

// Engines: graft's own pure-Go engine, and libtensorflow (binaries built
// with -tags tensorflow).
const (
	EngineNative     Engine = "native"
	EngineTensorFlow Engine = "tensorflow"
)

// Optimizer trains the head, with Keras's defaults.
type Optimizer string

// Optimizers.
const (
	Adam  Optimizer = "adam"
	AdamW Optimizer = "adamw"
	SGD   Optimizer = "sgd"
)

// Schedule changes the learning rate over the epochs.
type Schedule string

// Schedules: constant, cosine decay to 0, a step decay every StepEvery
// epochs by Gamma, or by Gamma after PlateauPatience epochs without
// improvement.
const (
	Constant Schedule = "constant"
	Cosine   Schedule = "cosine"
	Step     Schedule = "step"
	Plateau  Schedule = "plateau"
)

// Monitor is the validation metric that picks the best epoch and drives
// early stopping and the plateau schedule.
type Monitor string

// Monitors.
const (
	ValLoss     Monitor = "val_loss"
	ValAccuracy Monitor = "val_accuracy"
)

// BadFilePolicy says what an unreadable or corrupt image does to a job.
type BadFilePolicy string

// Bad-file policies: skip it (and report it), or fail the job.
const (
	SkipBadFiles BadFilePolicy = "skip"
	FailBadFiles BadFilePolicy = "fail"
)

// DeviceKind is a device's kind.
type DeviceKind string

// Device kinds. Auto is a GPU when graft-cuda finds one on the host that
// runs the job, else the CPU; it is decided once, when the job is
// resolved, and the job records the choice.
const (
	CPU  DeviceKind = "cpu"
	CUDA DeviceKind = "cuda"
	Auto DeviceKind = "auto"
)

// Device is where a job's head trains: "cpu", "cuda" (the first GPU),
// "cuda:N" or "auto", parsed once where it comes in (JSON, a flag:
// ParseDevice) and kept typed. It reads and writes as that string, so
// documents are as before; it writes "cuda" as cuda:0, its canonical
// form. The zero Device is unset.
type Device struct {
	Kind DeviceKind
	// Index is the GPU's ordinal (CUDA only): "cuda" is cuda:0.
	Index int
}

// deviceForms says what a device may be.
const deviceForms = "use cpu, cuda, cuda:N (N the GPU's number, from 0) or auto"

// ParseDevice is the one reader of device strings; its error is a
// FieldErrors for "device", so that a JSON document's bad device is a
// field error like any other.
func ParseDevice(s string) (Device, error) {
	switch s {
	case "cpu":
		return Device{Kind: CPU}, nil
	case "auto":
		return Device{Kind: Auto}, nil
	case "cuda":
		return Device{Kind: CUDA}, nil
	}
	n, ok := strings.CutPrefix(s, "cuda:")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 || strconv.Itoa(i) != n {
		return Device{}, FieldErrors{{Field: "device", Message: fmt.Sprintf("%q: %s", s, deviceForms)}}
	}
	return Device{Kind: CUDA, Index: i}, nil
}

// MustDevice is ParseDevice for constants ("cpu", "cuda:1"); it panics on
// anything else.
func MustDevice(s string) Device {
	d, err := ParseDevice(s)
	if err != nil {
		panic(err)
	}
	return d
}

// IsCUDA reports a GPU device.
func (d Device) IsCUDA() bool { return d.Kind == CUDA }

// IsZero reports an unset device.
func (d Device) IsZero() bool { return d.Kind == "" }

// String is the canonical form ("" when unset).
func (d Device) String() string {
	if d.Kind == CUDA {
		return "cuda:" + strconv.Itoa(d.Index)
	}
	return string(d.Kind)
}

// MarshalText writes the canonical form.
func (d Device) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses a device ("" is unset).
func (d *Device) UnmarshalText(b []byte) error {
	if len(b) == 0 {
		*d = Device{}
		return nil
	}
	v, err := ParseDevice(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// Set parses a device flag (flag.Value, pflag.Value).
func (d *Device) Set(s string) error { return d.UnmarshalText([]byte(s)) }

// Type names the flag's values (pflag.Value).
func (d *Device) Type() string { return "device" }

// JobSpec is a fine-tuning job as a user writes it: the body of POST
// /v1/jobs (in JobRequest), a `graft train --config` file, and what the
// flags of `graft train` set. Only user-settable fields: where a job runs
// and writes (its run directory, feature cache, allowed roots) is the
// runner's business. Empty strings and nil pointers are unset and take
// the defaults; the pointers are the numbers whose 0 means something
// (`"epochs": 0` is an error, not "the default").
type JobSpec struct {
	// Version is the contract's version (0 or absent: before versions).
	Version int `json:"version,omitempty"`

	Backbone string `json:"backbone,omitempty" openapi:"required"`
	// Engine runs the backbone (default native); tensorflow needs a graft
	// built with it.
	Engine    Engine   `json:"engine,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Signature string   `json:"signature,omitempty"`
	Tap       string   `json:"tap,omitempty" openapi:"required"`

	Data     string   `json:"data,omitempty" openapi:"required"`
	Val      string   `json:"val,omitempty"`
	ValSplit *float64 `json:"val_split,omitempty"`
	// Preprocess is an image preprocessing mode or "auto".
	Preprocess string        `json:"preprocess,omitempty" openapi:"enum=auto,raw,unit,tf,torch,caffe"`
	OnBadFile  BadFilePolicy `json:"on_bad_file,omitempty"`
	// Augment augments the training images (Keras layers' semantics,
	// docs/best-head.md): a comma-separated list of flip, rotation=F,
	// zoom=H[:W], translation=H[:W], brightness=F, contrast=F, or default.
	Augment string `json:"augment,omitempty" openapi:"example=flip,rotation=0.1,zoom=0.1"`
	// Views is, with Augment, the views of each training image, extracted
	// once and cached (view 0 the image itself; default 4).
	Views *int `json:"views,omitempty" openapi:"minimum=2;maximum=64"`

	Head           string   `json:"head,omitempty" openapi:"example=conv:256"` // "conv:FILTERS[:KERNEL]" or "linear"
	LabelSmoothing *float64 `json:"label_smoothing,omitempty"`
	// Dropout is the rate of dropout before the dense layer while
	// training, in [0, 1) (cpu only).
	Dropout *float64 `json:"dropout,omitempty" openapi:"minimum=0;maximum=1;exclusiveMaximum"`
	// ClassWeight weighs each class's loss: "balanced" (n/(classes*count))
	// or the absolute path of a JSON file {"class name": weight} (cpu
	// only); the run's spec records the weights used as class_weights.
	ClassWeight string `json:"class_weight,omitempty"`

	Epochs      *int      `json:"epochs,omitempty"`
	BatchSize   *int      `json:"batch_size,omitempty"`
	Optimizer   Optimizer `json:"optimizer,omitempty"`
	LR          *float64  `json:"lr,omitempty"`
	WeightDecay *float64  `json:"weight_decay,omitempty"`
	Momentum    *float64  `json:"momentum,omitempty"`

	Schedule        Schedule `json:"schedule,omitempty"`
	StepEvery       *int     `json:"step_every,omitempty"`
	Gamma           *float64 `json:"gamma,omitempty"`
	PlateauPatience *int     `json:"plateau_patience,omitempty"`

	EarlyStopping *int     `json:"early_stopping,omitempty"` // patience in epochs; 0: off
	Monitor       Monitor  `json:"monitor,omitempty"`
	MinDelta      *float64 `json:"min_delta,omitempty"`

	Seed *uint64 `json:"seed,omitempty"`
	// Device is where the head trains: cpu, cuda (the first GPU), cuda:N
	// or auto (a GPU when the job's host has one, else the CPU).
	Device Device `json:"device,omitzero" openapi:"pattern=^(cpu|auto|cuda(:[0-9]+)?)$"`
	// TFMemoryFraction caps the GPU memory the tensorflow engine takes
	// (tensorflow engine only).
	TFMemoryFraction *float64 `json:"tf_memory_fraction,omitempty" openapi:"minimum=0;maximum=1"`
	// Precision is the arithmetic of the conv head's two GEMMs: auto (the
	// device's default: fp32 on the CPU, tf32 on GPUs of compute
	// capability 8.0+), fp32, bf16 (on the CPU it needs AMX or
	// AVX512_BF16) or tf32 (GPUs only). A resumed run keeps its own.
	Precision string `json:"precision,omitempty" openapi:"enum=auto,fp32,bf16,tf32"`

	MemoryBudget *int64 `json:"memory_budget,omitempty"`
	Workers      *int   `json:"workers,omitempty"`
	// Threads is the threads the job computes on (GOMAXPROCS, the
	// engines' pools); unset or 0: the CPUs the worker's container may use.
	Threads *int `json:"threads,omitempty" openapi:"minimum=0"`
	// ExtractWorkers extracts the features in this many shard workers at
	// once before training (graft train --extract-workers; local worker
	// processes, or one Ray job per shard with graft serve --launcher
	// ray); 0 or 1: in the job's worker.
	ExtractWorkers *int `json:"extract_workers,omitempty" openapi:"minimum=0"`
	// ShardSize is, with extract_workers, the samples of a shard
	// (default 4096).
	ShardSize *int `json:"shard_size,omitempty" openapi:"minimum=1"`
	// ShardAttempts is, with extract_workers, the tries of a failed shard
	// before the job fails (default 3).
	ShardAttempts *int `json:"shard_attempts,omitempty" openapi:"minimum=1"`

	// Sweep makes the job a sweep (graft sweep, cpu only): one head per
	// point of its space, on features extracted once; the run directory
	// holds trials/NNN and leaderboard.json, and is itself the best
	// trial's run.
	Sweep *SweepSpec `json:"sweep,omitempty"`
}

// SweepSpec is a sweep's space and how many of its points to train.
type SweepSpec struct {
	// Space maps each setting to vary (a job-spec field: lr, head,
	// dropout, weight_decay, label_smoothing, optimizer, momentum,
	// batch_size) to its values.
	Space map[string][]any `json:"space"`
	// Trials is a seeded random sample of the grid's points (0: all).
	Trials int `json:"trials,omitempty" openapi:"minimum=0"`
	// Parallel caps the trials training at once (0: one per core).
	Parallel int `json:"parallel,omitempty" openapi:"minimum=0"`
}

// Ptr returns a pointer to v: JobSpec{Epochs: api.Ptr(5)}.
func Ptr[T any](v T) *T { return &v }

// RunSpec is a job as resolved and run: every default filled, the device
// and preprocessing decided, where it runs set. It is a run's config.json,
// the spec of a job the daemon reports and stores, and a worker's input.
type RunSpec struct {
	Version int `json:"version"`

	Backbone  string   `json:"backbone"`
	Engine    Engine   `json:"engine"`
	Tags      []string `json:"tags,omitempty"`
	Signature string   `json:"signature,omitempty"`
	Tap       string   `json:"tap"`

	Data     string  `json:"data"`
	Val      string  `json:"val,omitempty"`
	ValSplit float64 `json:"val_split,omitempty"`
	// Preprocess is the mode the run uses; PreprocessReason says why when
	// "auto" chose it from the backbone's graph.
	Preprocess       string `json:"preprocess"`
	PreprocessReason string `json:"preprocess_reason,omitempty"`
	// PreprocessStats is what auto read from the backbone's own batch-norm
	// statistics, when the graph does no input arithmetic.
	PreprocessStats *PreprocessStats `json:"preprocess_stats,omitempty"`
	OnBadFile       BadFilePolicy    `json:"on_bad_file"`
	// Augment is the augmentation in its canonical form (empty: none) and
	// Views the views of each training image (view 0 the image itself).
	Augment string `json:"augment,omitempty"`
	Views   int    `json:"views,omitempty"`

	Head           string  `json:"head"`
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`
	Dropout        float64 `json:"dropout,omitempty"`
	ClassWeight    string  `json:"class_weight,omitempty"`
	// ClassWeights is ClassWeight resolved when the run starts, by class
	// name: the weights the run used.
	ClassWeights map[string]float64 `json:"class_weights,omitempty"`

	Epochs      int       `json:"epochs"`
	BatchSize   int       `json:"batch_size"`
	Optimizer   Optimizer `json:"optimizer"`
	LR          float64   `json:"lr"`
	WeightDecay float64   `json:"weight_decay,omitempty"`
	Momentum    float64   `json:"momentum,omitempty"`

	Schedule        Schedule `json:"schedule"`
	StepEvery       int      `json:"step_every,omitempty"`
	Gamma           float64  `json:"gamma,omitempty"`
	PlateauPatience int      `json:"plateau_patience,omitempty"`

	EarlyStopping int     `json:"early_stopping,omitempty"`
	Monitor       Monitor `json:"monitor"`
	MinDelta      float64 `json:"min_delta,omitempty"`

	Seed             uint64  `json:"seed"`
	Device           Device  `json:"device"`
	TFMemoryFraction float64 `json:"tf_memory_fraction,omitempty"`
	// Precision is the conv head's GEMM arithmetic as set (auto, fp32,
	// bf16, tf32); records written before it read "": auto.
	Precision string `json:"precision,omitempty"`

	// CacheDir holds the feature cache; "none" disables it.
	CacheDir     string `json:"cache_dir,omitempty"`
	MemoryBudget int64  `json:"memory_budget,omitempty"`
	Workers      int    `json:"workers,omitempty"`
	Threads      int    `json:"threads,omitempty"` // 0: the container's CPU quota where the job runs
	// ExtractWorkers, ShardSize and ShardAttempts shard the extraction
	// (JobSpec); records written before them read 0: no sharding.
	ExtractWorkers int `json:"extract_workers,omitempty"`
	ShardSize      int `json:"shard_size,omitempty"`
	ShardAttempts  int `json:"shard_attempts,omitempty"`
	// AllowRoots confines every file the job reads (the daemon's
	// --allow-root; empty: no confinement).
	AllowRoots []string `json:"allow_roots,omitempty"`

	Sweep *SweepSpec `json:"sweep,omitempty"`

	// Out is the run directory.
	Out string `json:"out"`
}

// PreprocessStats compares a sample of the user's images, preprocessed
// each way, with the moving statistics of the backbone's first batch norm.
type PreprocessStats struct {
	// Layer is the batch norm whose statistics were read; "" when the
	// graph has none (and Distances is empty).
	Layer string `json:"layer,omitempty"`
	// Images is how many images were sampled.
	Images int `json:"images"`
	// Distances are per mode: the mean over channels of the symmetric KL
	// divergence between the batch's and the moving Gaussian statistics
	// of the layer's input (0: identical).
	Distances map[string]float64 `json:"distances,omitempty"`
}
