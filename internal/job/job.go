package job

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/dataset"
	"github.com/graft-ml/graft/internal/images"
)

// Job is a resolved job: its record (a run's config.json, the daemon's
// stored spec, a worker's input) and its settings parsed once.
type Job struct {
	api.RunSpec
	Device api.DeviceSpec
	// HeadKind, Filters and Kernel are Head parsed (Filters and Kernel
	// are 0 for a linear head).
	HeadKind        head.Kind
	Filters, Kernel int
	// Opt is the optimizer with the record's lr, weight decay and
	// momentum.
	Opt    head.Optimizer
	Policy dataset.BadFilePolicy
}

// Where says where a job runs and writes: the runner's settings, never a
// user's spec (the CLI's --out and --cache-dir, the daemon's data
// directory and --allow-root).
type Where struct {
	Out        string
	CacheDir   string
	AllowRoots []string
}

// Defaults is every default of a job, in one place. ValSplit's 0.2
// applies without Val; StepEvery, Gamma, PlateauPatience and the
// optimizer's numbers depend on other settings and are filled by New.
func Defaults() api.RunSpec {
	return api.RunSpec{
		Version: api.Version, Engine: api.EngineNative, Tags: []string{"serve"}, Signature: "serving_default",
		ValSplit: 0.2, Preprocess: inspect.Auto, OnBadFile: api.SkipBadFiles, Head: "conv:256",
		Epochs: 10, BatchSize: 32, Optimizer: api.Adam, Schedule: api.Constant, Monitor: api.ValLoss,
		Device: "cpu", MemoryBudget: 4 << 30,
	}
}

// New resolves a new job: the defaults, then what spec sets.
func New(spec api.JobSpec, w Where) (*Job, error) {
	if err := api.CheckVersion("the job spec", spec.Version); err != nil {
		return nil, err
	}
	r := Defaults()
	if spec.ValSplit == nil && spec.Val != "" {
		r.ValSplit = 0 // a separate validation set replaces the split
	}
	apply(&r, spec)
	derived(&r, spec)
	r.Out, r.CacheDir, r.AllowRoots = w.Out, w.CacheDir, w.AllowRoots
	return parse(r)
}

// derived fills the defaults that depend on other settings, where spec
// leaves them unset.
func derived(r *api.RunSpec, spec api.JobSpec) {
	if r.Schedule == api.Step && spec.StepEvery == nil {
		r.StepEvery = max(r.Epochs/3, 1)
	}
	if (r.Schedule == api.Step || r.Schedule == api.Plateau) && spec.Gamma == nil {
		r.Gamma = 0.1
	}
	if r.Schedule == api.Plateau && spec.PlateauPatience == nil {
		r.PlateauPatience = 2
	}
	// The optimizer's Keras defaults, recorded as the values the run uses
	// (1e-3, not 0 for "default").
	o, err := head.NewOptimizer(string(r.Optimizer))
	if err != nil {
		return // parse reports it
	}
	if spec.LR == nil {
		r.LR = f32(o.LR)
	}
	if spec.WeightDecay == nil {
		r.WeightDecay = f32(o.WeightDecay)
	}
	if spec.Momentum == nil {
		r.Momentum = f32(o.Momentum)
	}
}

// f32 is a float32 as the user would write it (1e-3, not
// 0.0010000000474974513).
func f32(v float32) float64 {
	x, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
	return x
}

// FromRecord resolves a record whose zero fields mean "the default": a
// config.json or worker input of version 0 (written before versions), and
// the partial configs tests and tools build. A record of the current
// version is taken as it is (Check).
func FromRecord(r api.RunSpec) (*Job, error) {
	if err := api.CheckVersion("the job record", r.Version); err != nil {
		return nil, err
	}
	if r.Version >= 1 {
		return parse(r)
	}
	j, err := New(specOf(r), Where{Out: r.Out, CacheDir: r.CacheDir, AllowRoots: r.AllowRoots})
	if err != nil {
		return nil, err
	}
	j.PreprocessReason, j.PreprocessStats = r.PreprocessReason, r.PreprocessStats
	return j, nil
}

// Check parses and validates a record of the current version as it is.
func Check(r api.RunSpec) (*Job, error) { return FromRecord(r) }

// specOf is the spec that sets r's non-zero fields.
func specOf(r api.RunSpec) api.JobSpec {
	s := api.JobSpec{Backbone: r.Backbone, Engine: r.Engine, Tags: r.Tags, Signature: r.Signature, Tap: r.Tap,
		Data: r.Data, Val: r.Val, Preprocess: r.Preprocess, OnBadFile: r.OnBadFile, Head: r.Head,
		Optimizer: r.Optimizer, Schedule: r.Schedule, Monitor: r.Monitor, Device: r.Device}
	set := func(v float64) *float64 {
		if v == 0 {
			return nil
		}
		return &v
	}
	seti := func(v int) *int {
		if v == 0 {
			return nil
		}
		return &v
	}
	s.ValSplit, s.LabelSmoothing, s.LR, s.WeightDecay, s.Momentum = set(r.ValSplit), set(r.LabelSmoothing), set(r.LR), set(r.WeightDecay), set(r.Momentum)
	s.Gamma, s.MinDelta, s.TFMemoryFraction = set(r.Gamma), set(r.MinDelta), set(r.TFMemoryFraction)
	s.Epochs, s.BatchSize, s.StepEvery, s.PlateauPatience, s.EarlyStopping, s.Workers = seti(r.Epochs), seti(r.BatchSize), seti(r.StepEvery), seti(r.PlateauPatience), seti(r.EarlyStopping), seti(r.Workers)
	if r.Seed != 0 {
		s.Seed = &r.Seed
	}
	if r.MemoryBudget != 0 {
		s.MemoryBudget = &r.MemoryBudget
	}
	return s
}

// apply copies every field spec sets onto r.
func apply(r *api.RunSpec, s api.JobSpec) {
	str := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	str(&r.Backbone, s.Backbone)
	str((*string)(&r.Engine), string(s.Engine))
	if len(s.Tags) > 0 {
		r.Tags = s.Tags
	}
	str(&r.Signature, s.Signature)
	str(&r.Tap, s.Tap)
	str(&r.Data, s.Data)
	str(&r.Val, s.Val)
	str(&r.Preprocess, s.Preprocess)
	str((*string)(&r.OnBadFile), string(s.OnBadFile))
	str(&r.Head, s.Head)
	str((*string)(&r.Optimizer), string(s.Optimizer))
	str((*string)(&r.Schedule), string(s.Schedule))
	str((*string)(&r.Monitor), string(s.Monitor))
	str((*string)(&r.Device), string(s.Device))
	setp(&r.ValSplit, s.ValSplit)
	setp(&r.LabelSmoothing, s.LabelSmoothing)
	setp(&r.Epochs, s.Epochs)
	setp(&r.BatchSize, s.BatchSize)
	setp(&r.LR, s.LR)
	setp(&r.WeightDecay, s.WeightDecay)
	setp(&r.Momentum, s.Momentum)
	setp(&r.StepEvery, s.StepEvery)
	setp(&r.Gamma, s.Gamma)
	setp(&r.PlateauPatience, s.PlateauPatience)
	setp(&r.EarlyStopping, s.EarlyStopping)
	setp(&r.MinDelta, s.MinDelta)
	setp(&r.Seed, s.Seed)
	setp(&r.TFMemoryFraction, s.TFMemoryFraction)
	setp(&r.MemoryBudget, s.MemoryBudget)
	setp(&r.Workers, s.Workers)
}

func setp[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// parse validates a complete record and parses its settings.
func parse(r api.RunSpec) (*Job, error) {
	r.Version = api.Version
	j := &Job{RunSpec: r}
	var errs api.FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, api.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	need := func(field, v string) {
		if v == "" {
			bad(field, "required")
		}
	}
	need("backbone", r.Backbone)
	if err := engine.Check(string(r.Engine)); err != nil {
		bad("engine", "%q: use %s", r.Engine, strings.Join(engine.Names, " or "))
	}
	if f := r.TFMemoryFraction; !(f >= 0 && f <= 1) {
		bad("tf_memory_fraction", "must be in [0, 1]")
	} else if f != 0 && r.Engine != api.EngineTensorFlow {
		bad("tf_memory_fraction", "only with the tensorflow engine")
	}
	need("tap", r.Tap)
	need("data", r.Data)
	need("out", r.Out)
	if r.Val != "" && r.ValSplit != 0 {
		bad("val_split", "set val or val_split, not both")
	}
	if err := dataset.CheckFraction(r.ValSplit); err != nil && r.Val == "" {
		bad("val_split", "%v", err)
	} else if r.Val == "" && r.ValSplit == 0 {
		bad("val_split", "0 leaves no validation samples: use a fraction in (0, 1), e.g. 0.2, or set val")
	}
	if r.Preprocess != inspect.Auto && images.CheckMode(r.Preprocess) != nil {
		bad("preprocess", "%q: use auto or one of %v", r.Preprocess, images.Modes)
	}
	var err error
	if j.Policy, err = dataset.ParsePolicy(string(r.OnBadFile)); err != nil {
		bad("on_bad_file", "%q: use skip or fail", r.OnBadFile)
	}
	if j.HeadKind, j.Filters, j.Kernel, err = ParseHead(r.Head); err != nil {
		bad("head", "%v", err)
	}
	if r.LabelSmoothing < 0 || r.LabelSmoothing >= 1 {
		bad("label_smoothing", "must be in [0, 1)")
	}
	if r.Epochs < 1 {
		bad("epochs", "must be >= 1")
	}
	if r.BatchSize < 1 {
		bad("batch_size", "must be >= 1")
	}
	if j.Opt, err = optimizer(r); err != nil {
		bad("optimizer", "%v", err)
	}
	switch r.Schedule {
	case api.Constant, api.Cosine:
	case api.Step:
		if r.StepEvery < 1 || r.Gamma <= 0 || r.Gamma > 1 {
			bad("schedule", "step needs step_every >= 1 and 0 < gamma <= 1")
		}
	case api.Plateau:
		if r.PlateauPatience < 1 || r.Gamma <= 0 || r.Gamma > 1 {
			bad("schedule", "plateau needs plateau_patience >= 1 and 0 < gamma <= 1")
		}
	default:
		bad("schedule", "%q: use constant, cosine, step or plateau", r.Schedule)
	}
	if r.EarlyStopping < 0 {
		bad("early_stopping", "patience must be >= 0")
	}
	if r.Monitor != api.ValLoss && r.Monitor != api.ValAccuracy {
		bad("monitor", "%q: use val_loss or val_accuracy", r.Monitor)
	}
	if j.Device, err = api.ParseDevice(r.Device); err != nil {
		bad("device", "%v", err)
	}
	if r.MemoryBudget < 0 {
		bad("memory_budget", "must be >= 0")
	}
	if r.Workers < 0 {
		bad("workers", "must be >= 0")
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return j, nil
}

// ParseHead reads a head: "linear", "conv", "conv:FILTERS" or
// "conv:FILTERS:KERNEL".
func ParseHead(s string) (kind head.Kind, filters, kernel int, err error) {
	parts := strings.Split(s, ":")
	switch {
	case s == "linear":
		return head.KindLinear, 0, 0, nil
	case parts[0] == "conv" && len(parts) <= 3:
		filters, kernel = 256, 3
		if len(parts) > 1 {
			if filters, err = strconv.Atoi(parts[1]); err != nil || filters < 1 {
				return "", 0, 0, fmt.Errorf("%q: filters must be a positive number", s)
			}
		}
		if len(parts) > 2 {
			if kernel, err = strconv.Atoi(parts[2]); err != nil || kernel < 1 || kernel%2 == 0 {
				return "", 0, 0, fmt.Errorf("%q: kernel must be an odd positive number", s)
			}
		}
		return head.KindConv, filters, kernel, nil
	}
	return "", 0, 0, fmt.Errorf("%q: use conv:FILTERS[:KERNEL] (e.g. conv:256) or linear", s)
}

// optimizer is the record's optimizer: Keras's defaults where a version-0
// record left 0, else its own numbers.
func optimizer(r api.RunSpec) (head.Optimizer, error) {
	o, err := head.NewOptimizer(string(r.Optimizer))
	if err != nil {
		return o, err
	}
	o.LR, o.WeightDecay, o.Momentum = float32(r.LR), float32(r.WeightDecay), float32(r.Momentum)
	return o, o.Validate()
}

// HeadSpec is the head for features of shape [H, W, C] and n classes.
func (j *Job) HeadSpec(shape []int, n int) (head.Spec, error) {
	if len(shape) != 3 {
		return head.Spec{}, fmt.Errorf("tap %q has per-sample shape %v; the head needs a feature map [H W C]", j.Tap, shape)
	}
	s := head.Spec{Height: shape[0], Width: shape[1], Channels: shape[2], Kind: j.HeadKind, Filters: j.Filters, Kernel: j.Kernel, Classes: n, LabelSmoothing: float32(j.LabelSmoothing)}
	return s, s.Validate()
}

// DecideAuto settles device auto, once, where the job will run: a GPU
// (cuda:0) when probe finds one, else the CPU; the record keeps the
// choice. It says why; other devices are left as they are.
func (j *Job) DecideAuto(probe func() error) string {
	if j.Device.Kind != api.Auto {
		return ""
	}
	if err := probe(); err != nil {
		j.Device = api.DeviceSpec{Kind: api.CPU}
		j.RunSpec.Device = j.Device.Device()
		return "auto: the cpu, since " + err.Error()
	}
	j.Device = api.DeviceSpec{Kind: api.CUDA}
	j.RunSpec.Device = j.Device.Device()
	return "auto: a GPU was found"
}

// MarshalJSON writes the record: a job's JSON is its RunSpec, whatever
// was parsed from it.
func (j Job) MarshalJSON() ([]byte, error) { return json.Marshal(j.RunSpec) }
