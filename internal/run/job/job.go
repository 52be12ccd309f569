package job

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/data/augment"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/extract/shard"
)

// Job is a resolved job: its record (a run's config.json, the daemon's
// stored spec, a worker's input) and its settings parsed once.
type Job struct {
	api.RunSpec // its Device is parsed already (api.Device)
	// HeadKind, Filters and Kernel are Head parsed (Filters and Kernel
	// are 0 for a linear head).
	HeadKind        head.Kind
	Filters, Kernel int
	// Opt is the optimizer with the record's lr, weight decay and
	// momentum.
	Opt    head.Optimizer
	Policy dataset.BadFilePolicy
	// Augmenter is Augment parsed, with the record's seed (unused
	// without Augment).
	Augmenter augment.Augmenter
	// HeadPrecision is Precision parsed: the arithmetic of the conv
	// head's GEMMs (PrecisionAuto: the device's default).
	HeadPrecision head.Precision
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
		Device: api.Device{Kind: api.CPU}, MemoryBudget: 4 << 30,
		ShardSize: shard.DefaultSize, ShardAttempts: shard.DefaultAttempts,
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

// SpecOf is the spec that sets r's non-zero fields: a resolved record as
// a spec again (a daemon's sweep builds its trials from it).
func SpecOf(r api.RunSpec) api.JobSpec { return specOf(r) }

// specOf is the spec that sets r's non-zero fields.
func specOf(r api.RunSpec) api.JobSpec {
	var s api.JobSpec
	sv, rv := reflect.ValueOf(&s).Elem(), reflect.ValueOf(r)
	for _, p := range specFields {
		v := rv.Field(p.run)
		if v.IsZero() {
			continue
		}
		dst := sv.Field(p.spec)
		if dst.Kind() == reflect.Pointer && !p.same {
			ptr := reflect.New(v.Type())
			ptr.Elem().Set(v)
			v = ptr
		}
		dst.Set(v)
	}
	return s
}

// apply copies every field spec sets onto r: a non-nil pointer, a
// non-empty string or list.
func apply(r *api.RunSpec, s api.JobSpec) {
	rv, sv := reflect.ValueOf(r).Elem(), reflect.ValueOf(s)
	for _, p := range specFields {
		v := sv.Field(p.spec)
		if v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
			continue
		}
		if v.Kind() == reflect.Pointer && !p.same {
			v = v.Elem()
		}
		rv.Field(p.run).Set(v)
	}
}

// fieldPair is a JobSpec field and the RunSpec field of its JSON name;
// same: both have one type (a pointer in both, as sweep's), copied as is.
type fieldPair struct {
	spec, run int
	same      bool
}

// specFields is the one mapping from JobSpec to RunSpec, by JSON name:
// apply and specOf walk it, so a new setting is a field of both types
// (and a flag of graft train, and the API's schema: TestSpecFieldsReach
// checks them). A JobSpec field without its RunSpec twin panics here,
// failing every test and every run, not silently dropping the setting.
var specFields = pairFields()

func pairFields() []fieldPair {
	st, rt := reflect.TypeFor[api.JobSpec](), reflect.TypeFor[api.RunSpec]()
	run := map[string]reflect.StructField{}
	for i := range rt.NumField() {
		run[JSONName(rt.Field(i))] = rt.Field(i)
	}
	var out []fieldPair
	for i := range st.NumField() {
		f := st.Field(i)
		name := JSONName(f)
		if name == "version" { // each document's own
			continue
		}
		r, ok := run[name]
		want := f.Type
		if want.Kind() == reflect.Pointer && (!ok || r.Type != want) {
			want = want.Elem()
		}
		if !ok || r.Type != want {
			panic(fmt.Sprintf("job: api.JobSpec.%s (%q) has no api.RunSpec field %q of type %v: add it to api.RunSpec", f.Name, name, name, want))
		}
		out = append(out, fieldPair{spec: i, run: r.Index[0], same: r.Type == f.Type})
	}
	return out
}

// JSONName is a struct field's name in JSON.
func JSONName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "" {
		return f.Name
	}
	return name
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
	if head.CheckDropout(r.Dropout) != nil {
		bad("dropout", "must be in [0, 1)")
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
	if r.Device.IsZero() {
		bad("device", "required: %s", "cpu, cuda, cuda:N or auto")
	} else if r.Device.IsCUDA() && r.Sweep != nil {
		bad("device", "a sweep trains its heads on the cpu: use cpu or auto")
	} else if r.Device.IsCUDA() && j.Extras() {
		bad("device", "the CUDA head has no dropout or class weights yet: train with --device cpu, or without --dropout and --class-weight")
	}
	parsePrecision(j, bad)
	if r.MemoryBudget < 0 {
		bad("memory_budget", "must be >= 0")
	}
	if r.Workers < 0 {
		bad("workers", "must be >= 0")
	}
	parseAugment(j, bad)
	if r.Threads < 0 {
		bad("threads", "must be >= 0 (0: the CPUs the container may use)")
	}
	if r.ExtractWorkers < 0 {
		bad("extract_workers", "%d: use 0 (extract in the job's own worker) or a number of shard workers", r.ExtractWorkers)
	}
	if r.ExtractWorkers > 1 { // a record from before sharding has 0s
		if r.ShardSize < 1 {
			bad("shard_size", "%d: use a positive number of samples per shard (default %d)", r.ShardSize, shard.DefaultSize)
		}
		if r.ShardAttempts < 1 {
			bad("shard_attempts", "%d: use 1 or more (default %d)", r.ShardAttempts, shard.DefaultAttempts)
		}
		if r.CacheDir == "none" {
			bad("extract_workers", "the shard workers put the features in the feature cache: drop cache_dir none")
		}
		if r.Sweep != nil {
			bad("extract_workers", "a sweep extracts its features once, in its own worker: drop extract_workers")
		}
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
	if j.Extras() || j.Sweep != nil {
		j.Device = api.Device{Kind: api.CPU}
		return "auto: the cpu, since the CUDA head has no dropout or class weights yet and sweeps train on the cpu"
	}
	if err := probe(); err != nil {
		j.Device = api.Device{Kind: api.CPU}
		return "auto: the cpu, since " + err.Error()
	}
	j.Device = api.Device{Kind: api.CUDA}
	return "auto: a GPU was found"
}

// MarshalJSON writes the record: a job's JSON is its RunSpec, whatever
// was parsed from it.
func (j Job) MarshalJSON() ([]byte, error) { return json.Marshal(j.RunSpec) }

// DefaultViews is the views of each training image with augment and no
// views given: the image and three augmented views.
const DefaultViews = 4

// MaxViews bounds views: each costs a backbone pass and its features.
const MaxViews = 64

// parseAugment reads augment into j.Augmenter (its canonical form into
// the record) and checks views against it.
func parseAugment(j *Job, bad func(field, format string, args ...any)) {
	r := &j.RunSpec
	if r.Augment == "" {
		if r.Views != 0 {
			bad("views", "views are augmented views: set augment too (e.g. augment=default)")
		}
		return
	}
	sp, err := augment.Parse(r.Augment)
	if err != nil {
		bad("augment", "%s", strings.TrimPrefix(err.Error(), "augment: ")) // the field names it
		return
	}
	r.Augment = sp.String()
	j.Augmenter = augment.Augmenter{Spec: sp, Seed: r.Seed}
	if r.Views == 0 {
		r.Views = DefaultViews
	}
	if r.Views < 2 || r.Views > MaxViews {
		bad("views", "must be in [2, %d] (view 0 is the image itself, the others augmented)", MaxViews)
	}
}

// parsePrecision reads precision into j.HeadPrecision, recording its
// canonical form ("auto" for the device's default, so that a resumed run
// or a worker's input says it too). What the device cannot run is refused
// where the device is known (head.CPUPrecision; graft-cuda trains on a
// GPU whatever device says).
func parsePrecision(j *Job, bad func(field, format string, args ...any)) {
	p, err := head.ParsePrecision(j.Precision)
	if err != nil {
		bad("precision", "%q: use auto, fp32, bf16 (a CPU with AMX or AVX512_BF16, or a GPU) or tf32 (GPUs only)", j.Precision)
		return
	}
	j.HeadPrecision, j.Precision = p, string(p)
	if p == head.PrecisionAuto {
		j.Precision = "auto"
	}
	if j.Sweep != nil && p != head.PrecisionAuto && p != head.PrecisionFP32 {
		bad("precision", "%s: a sweep trains its heads in fp32 on the cpu: drop precision, or train the chosen head with graft train --precision %s", p, p)
	}
}

// BalancedWeights is class_weight's "balanced": n / (classes * count).
const BalancedWeights = "balanced"

// Extras says the job trains with dropout or class weights, which only
// the CPU head has (head.ExtrasOps).
func (j *Job) Extras() bool { return j.Dropout > 0 || j.ClassWeight != "" }
