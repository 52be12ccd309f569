package train

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"go.uber.org/zap"

	"github.com/graft-ml/graft/backbone"
	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/confine"
	"github.com/graft-ml/graft/internal/dataset"
	"github.com/graft-ml/graft/internal/hint"
	"github.com/graft-ml/graft/internal/images"
)

// ErrConfig reports invalid job settings; FieldErrors lists them.
var ErrConfig = errors.New("train: invalid config")

// Config is one fine-tuning job. Its JSON form is the job spec the daemon
// accepts and the config.json of a run.
type Config struct {
	Backbone string `json:"backbone"`
	// Engine runs the backbone: "native" (pure Go) or "tensorflow"
	// (libtensorflow; binaries built with -tags tensorflow).
	Engine    string   `json:"engine"`
	Tags      []string `json:"tags,omitempty"`
	Signature string   `json:"signature,omitempty"`
	Tap       string   `json:"tap"`

	Data     string  `json:"data"`
	Val      string  `json:"val,omitempty"`
	ValSplit float64 `json:"val_split,omitempty"`
	// Preprocess is an images mode or "auto" (the default): the run
	// resolves auto from the backbone's graph and records the mode it
	// used here, and why in PreprocessReason.
	Preprocess       string `json:"preprocess"`
	PreprocessReason string `json:"preprocess_reason,omitempty"`
	OnBadFile        string `json:"on_bad_file"`

	Head           string  `json:"head"` // "conv:FILTERS[:KERNEL]" or "linear"
	LabelSmoothing float64 `json:"label_smoothing,omitempty"`

	Epochs      int     `json:"epochs"`
	BatchSize   int     `json:"batch_size"`
	Optimizer   string  `json:"optimizer"`
	LR          float64 `json:"lr"`
	WeightDecay float64 `json:"weight_decay,omitempty"`
	Momentum    float64 `json:"momentum,omitempty"`

	Schedule        string  `json:"schedule"` // constant, cosine, step, plateau
	StepEvery       int     `json:"step_every,omitempty"`
	Gamma           float64 `json:"gamma,omitempty"`
	PlateauPatience int     `json:"plateau_patience,omitempty"`

	EarlyStopping int     `json:"early_stopping,omitempty"` // patience in epochs; 0: off
	Monitor       string  `json:"monitor"`                  // val_loss or val_accuracy
	MinDelta      float64 `json:"min_delta,omitempty"`

	Seed   uint64 `json:"seed"`
	Device string `json:"device"`
	// TFMemoryFraction caps the GPU memory the tensorflow engine takes
	// (0: no cap; it allocates as it goes either way).
	TFMemoryFraction float64 `json:"tf_memory_fraction,omitempty"`
	// eager runs the tensorflow engine eagerly, its features kept on the
	// GPU for the CUDA head (set by Run, never saved).
	eager bool

	// CacheDir holds the feature cache; "none" disables it.
	CacheDir     string `json:"cache_dir,omitempty"`
	MemoryBudget int64  `json:"memory_budget,omitempty"`
	Workers      int    `json:"workers,omitempty"`
	// AllowRoots confines every data file the job reads (set by the
	// daemon from its --allow-root; empty: no confinement).
	AllowRoots []string `json:"allow_roots,omitempty"`

	Out string `json:"out"`
}

// Defaults fills what a user left out with Keras-like defaults.
func (c *Config) Defaults() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.Engine, engine.Native)
	def(&c.Signature, "serving_default")
	def(&c.Preprocess, inspect.Auto)
	def(&c.OnBadFile, "skip")
	def(&c.Head, "conv:256")
	def(&c.Optimizer, head.Adam)
	def(&c.Schedule, "constant")
	def(&c.Monitor, "val_loss")
	def(&c.Device, "cpu")
	if len(c.Tags) == 0 {
		c.Tags = []string{"serve"}
	}
	if c.Val == "" && c.ValSplit == 0 {
		c.ValSplit = 0.2
	}
	if c.Epochs == 0 {
		c.Epochs = 10
	}
	if c.BatchSize == 0 {
		c.BatchSize = 32
	}
	if c.Schedule == "step" && c.StepEvery == 0 {
		c.StepEvery = max(c.Epochs/3, 1)
	}
	if (c.Schedule == "step" || c.Schedule == "plateau") && c.Gamma == 0 {
		c.Gamma = 0.1
	}
	if c.Schedule == "plateau" && c.PlateauPatience == 0 {
		c.PlateauPatience = 2
	}
	if c.MemoryBudget == 0 {
		c.MemoryBudget = 4 << 30
	}
	c.effectiveOptimizer()
}

// effectiveOptimizer writes the optimizer's Keras defaults into lr,
// weight_decay and momentum where they are 0, so that config.json records
// the values the run uses rather than 0 for "default" (a config.json
// written before keeps its meaning: 0 still resolves to the same value).
// Seed 0 is a real seed (the default), recorded as such.
func (c *Config) effectiveOptimizer() {
	o, err := head.NewOptimizer(c.Optimizer)
	if err != nil {
		return // Validate reports it
	}
	// The float32 values the optimizer runs with, as the user would write
	// them (1e-3, not 0.0010000000474974513).
	f := func(v float32) float64 {
		x, _ := strconv.ParseFloat(strconv.FormatFloat(float64(v), 'g', -1, 32), 64)
		return x
	}
	if c.LR == 0 {
		c.LR = f(o.LR)
	}
	if c.WeightDecay == 0 {
		c.WeightDecay = f(o.WeightDecay)
	}
	if c.Momentum == 0 {
		c.Momentum = f(o.Momentum)
	}
}

// FieldError is one invalid setting.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// FieldErrors is every invalid setting of a config.
type FieldErrors []FieldError

func (f FieldErrors) Error() string {
	parts := make([]string, len(f))
	for i, e := range f {
		parts[i] = e.Field + ": " + e.Message
	}
	return fmt.Sprintf("%v: %s", ErrConfig, strings.Join(parts, "; "))
}

// Is makes errors.Is(err, ErrConfig) true.
func (f FieldErrors) Is(target error) bool { return target == ErrConfig }

// Validate checks a defaulted config and returns FieldErrors.
func (c *Config) Validate() error {
	var errs FieldErrors
	bad := func(field, format string, args ...any) {
		errs = append(errs, FieldError{field, fmt.Sprintf(format, args...)})
	}
	need := func(field, v string) {
		if v == "" {
			bad(field, "required")
		}
	}
	need("backbone", c.Backbone)
	if err := engine.Check(c.Engine); err != nil {
		bad("engine", "%q: use %s", c.Engine, strings.Join(engine.Names, " or "))
	}
	if f := c.TFMemoryFraction; !(f >= 0 && f <= 1) {
		bad("tf_memory_fraction", "must be in [0, 1]")
	} else if f != 0 && c.Engine != engine.TensorFlow {
		bad("tf_memory_fraction", "only with the tensorflow engine")
	}
	need("tap", c.Tap)
	need("data", c.Data)
	need("out", c.Out)
	if c.Val != "" && c.ValSplit != 0 {
		bad("val_split", "set val or val_split, not both")
	}
	if err := dataset.CheckFraction(c.ValSplit); err != nil && c.Val == "" {
		bad("val_split", "%v", err)
	}
	if c.Preprocess != inspect.Auto && images.CheckMode(c.Preprocess) != nil {
		bad("preprocess", "%q: use auto or one of %v", c.Preprocess, images.Modes)
	}
	if _, err := dataset.ParsePolicy(c.OnBadFile); err != nil {
		bad("on_bad_file", "%q: use skip or fail", c.OnBadFile)
	}
	if _, _, _, err := ParseHead(c.Head); err != nil {
		bad("head", "%v", err)
	}
	if c.LabelSmoothing < 0 || c.LabelSmoothing >= 1 {
		bad("label_smoothing", "must be in [0, 1)")
	}
	if c.Epochs < 1 {
		bad("epochs", "must be >= 1")
	}
	if c.BatchSize < 1 {
		bad("batch_size", "must be >= 1")
	}
	if _, err := c.optimizer(); err != nil {
		bad("optimizer", "%v", err)
	}
	switch c.Schedule {
	case "constant", "cosine":
	case "step":
		if c.StepEvery < 1 || c.Gamma <= 0 || c.Gamma > 1 {
			bad("schedule", "step needs step_every >= 1 and 0 < gamma <= 1")
		}
	case "plateau":
		if c.PlateauPatience < 1 || c.Gamma <= 0 || c.Gamma > 1 {
			bad("schedule", "plateau needs plateau_patience >= 1 and 0 < gamma <= 1")
		}
	default:
		bad("schedule", "%q: use constant, cosine, step or plateau", c.Schedule)
	}
	if c.EarlyStopping < 0 {
		bad("early_stopping", "patience must be >= 0")
	}
	if c.Monitor != "val_loss" && c.Monitor != "val_accuracy" {
		bad("monitor", "%q: use val_loss or val_accuracy", c.Monitor)
	}
	if !validDevice(c.Device) {
		bad("device", "%q: use cpu, cuda, cuda:N or auto", c.Device)
	}
	if c.MemoryBudget < 0 || c.Workers < 0 {
		bad("memory_budget", "must be >= 0")
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// ParseHead reads --head: "linear", "conv", "conv:FILTERS" or
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

// optimizer builds the optimizer: Keras defaults, overridden by lr,
// weight_decay and momentum when given.
func (c *Config) optimizer() (head.Optimizer, error) {
	o, err := head.NewOptimizer(c.Optimizer)
	if err != nil {
		return o, err
	}
	if c.LR != 0 {
		o.LR = float32(c.LR)
	}
	if c.WeightDecay != 0 {
		o.WeightDecay = float32(c.WeightDecay)
	}
	if c.Momentum != 0 {
		o.Momentum = float32(c.Momentum)
	}
	return o, o.Validate()
}

// resolvePreprocess replaces "auto" with the mode the backbone's graph
// calls for and records why; an explicit mode stays, with a warning when
// the graph's own normalisation contradicts it.
func (c *Config) resolvePreprocess(log *zap.Logger) {
	// The graph is read only where the backbone itself may be read.
	var n inspect.Normalization
	roots, err := confine.New(c.AllowRoots)
	if err == nil {
		n, err = inspect.DetectDir(roots, c.Backbone, c.Tags, c.Signature)
	}
	if err != nil {
		// The backbone's own opening reports a model that cannot load.
		log.Debug("input normalisation not detected", zap.Error(err))
	}
	ch := inspect.ChoosePreprocess(c.Preprocess, n)
	c.Preprocess, c.PreprocessReason = ch.Mode, ch.Reason
	ch.Log(log)
}

// backbone opens the job's backbone on its engine, placed on its device.
func (c *Config) backbone() (backbone.Backbone, error) {
	roots, err := confine.New(c.AllowRoots)
	if err != nil {
		return nil, err
	}
	return engine.Open(c.Engine, c.Backbone, engine.Options{
		Options: native.Options{Tags: c.Tags, Signature: c.Signature, Tap: c.Tap, Roots: roots},
		Device:  c.Device, GPUMemoryFraction: c.TFMemoryFraction, Eager: c.eager,
	})
}

// spec is the head for features of shape [H, W, C] and n classes.
func (c *Config) spec(shape []int, n int) (head.Spec, error) {
	if len(shape) != 3 {
		return head.Spec{}, hint.With(fmt.Errorf("train: tap %q has per-sample shape %v; the head needs a feature map [H W C]", c.Tap, shape), "pick a 4-D tensor: graft inspect --tensors MODEL lists them with their shapes")
	}
	kind, filters, kernel, err := ParseHead(c.Head)
	if err != nil {
		return head.Spec{}, err
	}
	s := head.Spec{Height: shape[0], Width: shape[1], Channels: shape[2], Kind: kind, Filters: filters, Kernel: kernel, Classes: n, LabelSmoothing: float32(c.LabelSmoothing)}
	return s, s.Validate()
}

func validDevice(d string) bool {
	if d == "cpu" || d == "auto" || d == "cuda" {
		return true
	}
	n, ok := strings.CutPrefix(d, "cuda:")
	i, err := strconv.Atoi(n)
	return ok && err == nil && i >= 0
}
