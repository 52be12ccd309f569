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

// Device is where a job's head trains, as written: "cpu", "cuda" (the
// first GPU), "cuda:N", or "auto". ParseDevice reads it.
type Device string

// DeviceKind is a parsed device's kind.
type DeviceKind string

// Device kinds. Auto is a GPU when graft-cuda finds one on the host that
// runs the job, else the CPU; it is decided once, when the job is
// resolved, and the job records the choice.
const (
	CPU  DeviceKind = "cpu"
	CUDA DeviceKind = "cuda"
	Auto DeviceKind = "auto"
)

// DeviceSpec is a parsed device.
type DeviceSpec struct {
	Kind DeviceKind
	// Index is the GPU's ordinal (CUDA only): "cuda" is cuda:0.
	Index int
}

// ErrDevice says what a device may be.
const deviceForms = "use cpu, cuda, cuda:N (N the GPU's number, from 0) or auto"

// ParseDevice is the one reader of device strings.
func ParseDevice(s Device) (DeviceSpec, error) {
	switch s {
	case "cpu":
		return DeviceSpec{Kind: CPU}, nil
	case "auto":
		return DeviceSpec{Kind: Auto}, nil
	case "cuda":
		return DeviceSpec{Kind: CUDA}, nil
	}
	n, ok := strings.CutPrefix(string(s), "cuda:")
	i, err := strconv.Atoi(n)
	if !ok || err != nil || i < 0 || strconv.Itoa(i) != n {
		return DeviceSpec{}, fmt.Errorf("device %q: %s", s, deviceForms)
	}
	return DeviceSpec{Kind: CUDA, Index: i}, nil
}

// IsCUDA reports a GPU device.
func (d DeviceSpec) IsCUDA() bool { return d.Kind == CUDA }

// Device writes d back: "cuda" for cuda:0 stays as the user wrote it only
// through the string it came from; this is the canonical form.
func (d DeviceSpec) Device() Device {
	if d.Kind == CUDA {
		return Device("cuda:" + strconv.Itoa(d.Index))
	}
	return Device(d.Kind)
}

// String is the canonical form.
func (d DeviceSpec) String() string { return string(d.Device()) }

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

	Backbone  string   `json:"backbone,omitempty"`
	Engine    Engine   `json:"engine,omitempty"`
	Tags      []string `json:"tags,omitempty"`
	Signature string   `json:"signature,omitempty"`
	Tap       string   `json:"tap,omitempty"`

	Data     string   `json:"data,omitempty"`
	Val      string   `json:"val,omitempty"`
	ValSplit *float64 `json:"val_split,omitempty"`
	// Preprocess is an image preprocessing mode or "auto".
	Preprocess string        `json:"preprocess,omitempty"`
	OnBadFile  BadFilePolicy `json:"on_bad_file,omitempty"`

	Head           string   `json:"head,omitempty"` // "conv:FILTERS[:KERNEL]" or "linear"
	LabelSmoothing *float64 `json:"label_smoothing,omitempty"`

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

	Seed             *uint64  `json:"seed,omitempty"`
	Device           Device   `json:"device,omitempty"`
	TFMemoryFraction *float64 `json:"tf_memory_fraction,omitempty"`

	MemoryBudget *int64 `json:"memory_budget,omitempty"`
	Workers      *int   `json:"workers,omitempty"`
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

	Head           string  `json:"head"`
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`

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

	// CacheDir holds the feature cache; "none" disables it.
	CacheDir     string `json:"cache_dir,omitempty"`
	MemoryBudget int64  `json:"memory_budget,omitempty"`
	Workers      int    `json:"workers,omitempty"`
	// AllowRoots confines every file the job reads (the daemon's
	// --allow-root; empty: no confinement).
	AllowRoots []string `json:"allow_roots,omitempty"`

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
