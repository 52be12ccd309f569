package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/base/progress"
	"github.com/graft-ml/graft/internal/data/augment"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
	"github.com/graft-ml/graft/internal/util/gemm"
	"github.com/graft-ml/graft/internal/util/threads"
)

// TrainJob is a `train` command's settings: the flags (their defaults are
// job.Defaults), --out and --cache-dir, and with --resume the run to
// continue. Resolve turns them into the job.
type TrainJob struct {
	flags      api.RunSpec
	Out        string
	CacheDir   string
	Resume     string
	ConfigFile string
	// MaxImagePixels is --max-image-pixels: how the data is read, not a
	// setting of the run (train.Options.MaxImagePixels).
	MaxImagePixels int64
	// CacheMaxBytes is --cache-max-bytes (train.Options.CacheMaxBytes).
	CacheMaxBytes int64
	// KillShardAfter is the hidden test flag of --extract-workers (the
	// job's extract_workers, shard_size and shard_attempts).
	KillShardAfter int
	fs             *pflag.FlagSet
	settings       map[string]bool // the flags that are job settings
}

// TrainCommand is `train` for both binaries: graft trains on the CPU (or
// hands the job to graft-cuda), graft-cuda on a GPU. run does the work.
func TrainCommand(short string, run func(cmd *cobra.Command, job *TrainJob) error) *cobra.Command {
	tj := &TrainJob{flags: job.Defaults()}
	cmd := &cobra.Command{
		Use:   "train --backbone MODEL --tap TENSOR --data DATA --out RUN",
		Short: short,
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return run(cmd, tj) },
	}
	c := &tj.flags
	f := cmd.Flags()
	tj.fs = f
	str := func(p any) *string { // the typed settings' flags are strings
		switch p := p.(type) {
		case *api.Engine:
			return (*string)(p)
		case *api.BadFilePolicy:
			return (*string)(p)
		case *api.Optimizer:
			return (*string)(p)
		case *api.Schedule:
			return (*string)(p)
		case *api.Monitor:
			return (*string)(p)
		}
		return p.(*string)
	}
	f.StringVar(&tj.ConfigFile, "config", "", "a job spec as JSON (the daemon's job format, or a run's config.json); flags given too override it")
	f.StringVar(&c.Backbone, "backbone", "", "SavedModel directory of the frozen backbone")
	f.StringVar(str(&c.Engine), "engine", string(c.Engine), "backbone engine: native (pure Go) or tensorflow (libtensorflow; binaries built with -tags tensorflow)")
	f.StringSliceVar(&c.Tags, "tags", c.Tags, "meta graph tag set")
	f.StringVar(&c.Signature, "signature", c.Signature, "signature whose input feeds the images")
	f.StringVar(&c.Tap, "tap", "", "intermediate tensor the head reads: node:idx, a node inside a function, or a Keras layer name (graft inspect --tensors lists them)")
	f.StringVar(&c.Data, "data", "", "training images: a folder with one sub-folder per class, a CSV (path,label) or TFRecord files")
	f.StringVar(&c.Val, "val", "", "validation images (same forms as --data)")
	f.Float64Var(&c.ValSplit, "val-split", c.ValSplit, "fraction of --data held out for validation, stratified and seeded (none with --val)")
	f.StringVar(&c.Preprocess, "preprocess", c.Preprocess, fmt.Sprintf("image preprocessing: auto (what the backbone's graph calls for; see graft inspect) or one of %v", images.Modes))
	f.StringVar(str(&c.OnBadFile), "on-bad-file", string(c.OnBadFile), "unreadable or corrupt images: skip (and report) or fail")
	f.StringVar(&c.Augment, "augment", "", "augment the training images, Keras layers' semantics: "+augment.Syntax)
	f.IntVar(&c.Views, "views", 0, fmt.Sprintf("with --augment: views of each training image extracted once and cached, view 0 the image itself; each epoch trains on one (default %d)", job.DefaultViews))
	f.StringVar(&c.Head, "head", c.Head, "head: conv:FILTERS[:KERNEL] or linear")
	f.Float64Var(&c.LabelSmoothing, "label-smoothing", 0, "label smoothing in [0, 1)")
	f.Float64Var(&c.Dropout, "dropout", 0, "dropout rate in [0, 1) before the dense layer, while training only (cpu)")
	f.StringVar(&c.ClassWeight, "class-weight", "", `weigh each class's loss: "balanced" (n/(classes*count), as scikit-learn) or a JSON file {"class name": weight} (cpu)`)
	f.IntVar(&c.Epochs, "epochs", c.Epochs, "epochs")
	f.IntVar(&c.BatchSize, "batch-size", c.BatchSize, "batch size")
	f.StringVar(str(&c.Optimizer), "optimizer", string(c.Optimizer), "adam, adamw or sgd (Keras defaults)")
	f.Float64Var(&c.LR, "lr", 0, "learning rate (default: the optimizer's, 1e-3 for Adam)")
	f.Float64Var(&c.WeightDecay, "weight-decay", 0, "decoupled weight decay on kernels (default: the optimizer's, 0.004 for adamw)")
	f.Float64Var(&c.Momentum, "momentum", 0, "SGD momentum (default 0.9)")
	f.StringVar(str(&c.Schedule), "schedule", string(c.Schedule), "learning-rate schedule: constant, cosine, step or plateau")
	f.IntVar(&c.StepEvery, "step-every", 0, "step schedule: epochs between decays (default: a third of the epochs)")
	f.Float64Var(&c.Gamma, "gamma", 0, "step/plateau schedules: decay factor (default 0.1)")
	f.IntVar(&c.PlateauPatience, "plateau-patience", 0, "plateau schedule: epochs without improvement before decaying (default 2)")
	f.IntVar(&c.EarlyStopping, "early-stopping", 0, "stop after this many epochs without improvement (0: off)")
	f.StringVar(str(&c.Monitor), "monitor", string(c.Monitor), "metric for best checkpoint, early stopping and plateau: val_loss or val_accuracy")
	f.Float64Var(&c.MinDelta, "min-delta", 0, "smallest change that counts as an improvement")
	f.Uint64Var(&c.Seed, "seed", 0, "seed for initialisation, split and shuffling")
	f.Var(&c.Device, "device", "cpu, cuda, cuda:N, or auto (a GPU when graft-cuda finds one, else the cpu); --resume keeps the run's unless given")
	f.StringVar(&c.Precision, "precision", "", PrecisionUsage)
	f.Float64Var(&c.TFMemoryFraction, "tf-memory-fraction", 0, "tensorflow engine: cap on the fraction of GPU memory TensorFlow takes (0: none; it grows as needed either way)")
	f.StringVar(&tj.CacheDir, "cache-dir", "", `feature cache directory (default $GRAFT_CACHE_DIR or the user cache dir; "none" disables it)`)
	f.Int64Var(&tj.CacheMaxBytes, "cache-max-bytes", -1, "bytes the feature cache may hold, every backbone and tap together; beyond, the least recently used features go (-1: 20% of the cache directory's disk; 0: no cap)")
	f.Int64Var(&c.MemoryBudget, "memory-budget", c.MemoryBudget, "bytes of features kept in memory (above it they stream from the cache); an eighth of it sizes the extraction's batches and decoded images")
	f.IntVar(&c.Workers, "workers", 0, "image decoding goroutines (default: one per thread)")
	f.IntVar(&c.Threads, "threads", 0, "threads the job computes on (GOMAXPROCS, the engines' pools; 0: the CPUs the container may use)")
	f.StringVar(&tj.Out, "out", "", "run directory to create")
	f.Int64Var(&tj.MaxImagePixels, "max-image-pixels", images.DefaultMaxPixels, "images with more pixels (read from the header, before decoding) are bad files: skipped and listed, or with --on-bad-file fail the run")
	f.StringVar(&tj.Resume, "resume", "", "continue the interrupted run in this directory (its config is used; flags given change what a resumed run may change: --epochs extends it, --device moves it)")
	f.IntVar(&c.ExtractWorkers, "extract-workers", 0, "extract the features in this many worker processes at once, shard by shard, into the feature cache, before training (0 or 1: in this process)")
	f.IntVar(&c.ShardSize, "shard-size", c.ShardSize, "with --extract-workers: samples per shard (contiguous ranges of the run's split, train then validation)")
	f.IntVar(&c.ShardAttempts, "shard-attempts", c.ShardAttempts, "with --extract-workers: tries of a failed shard before the run fails")
	f.IntVar(&tj.KillShardAfter, "test-kill-shard-after", 0, "tests only: the first attempt of shard 0 kills its worker (SIGKILL) after this many features")
	f.MarkHidden("test-kill-shard-after")
	tj.settings = map[string]bool{}
	f.VisitAll(func(fl *pflag.Flag) { tj.settings[fl.Name] = !runnerFlags[fl.Name] })
	return cmd
}

// PrecisionUsage is --precision's help, for graft and graft-cuda alike.
const PrecisionUsage = "arithmetic of the conv head's GEMMs: auto (the device's default: fp32 on the cpu, tf32 on GPUs of compute capability 8.0+), fp32, bf16 (inputs rounded to bfloat16, float32 sums and weights; on the cpu it needs AMX or AVX512_BF16) or tf32 (GPU tensor cores only); --resume keeps the run's unless given"

// CPUOps opens the CPU head at precision p for a run in this process or a
// worker: nil (the plain CPU path) for fp32, or why this CPU cannot.
func CPUOps(p head.Precision, log *zap.Logger) (head.Ops, error) {
	ops, err := head.NewCPUOpsAt(p)
	if err != nil {
		return nil, err
	}
	if ops.Mode() == head.PrecisionFP32 {
		return nil, nil
	}
	log.Info("cpu head", zap.String("precision", string(ops.Mode())), zap.String("kernel", gemm.BF16Kernel()), zap.String("note", gemm.BF16Note()))
	return ops, nil
}

// runnerFlags are the train flags that are not job settings.
var runnerFlags = map[string]bool{"config": true, "cache-dir": true, "out": true, "resume": true, "max-image-pixels": true, "cache-max-bytes": true,
	"test-kill-shard-after": true}

// Spec is what the user set: the --config file's settings, then every
// flag given on the command line. A run's config.json is a valid --config:
// its out and cache_dir become the defaults of --out and --cache-dir.
func (t *TrainJob) Spec() (api.JobSpec, error) {
	fields := map[string]json.RawMessage{}
	if t.ConfigFile != "" {
		raw, err := os.ReadFile(t.ConfigFile)
		if err != nil {
			return api.JobSpec{}, fmt.Errorf("train: --config: %w", err)
		}
		if err := json.Unmarshal(raw, &fields); err != nil {
			return api.JobSpec{}, fmt.Errorf("train: --config %s: %w", t.ConfigFile, err)
		}
		for name, dst := range map[string]*string{"out": &t.Out, "cache_dir": &t.CacheDir} {
			if v, ok := fields[name]; ok && !t.fs.Changed(strings.ReplaceAll(name, "_", "-")) {
				json.Unmarshal(v, dst)
			}
		}
		// A run's record of how it ran is no setting.
		for _, name := range []string{"out", "cache_dir", "allow_roots", "preprocess_reason", "class_weights", "preprocess_stats"} {
			delete(fields, name)
		}
	}
	var given map[string]json.RawMessage
	b, _ := json.Marshal(t.flags)
	json.Unmarshal(b, &given)
	t.fs.Visit(func(f *pflag.Flag) {
		if !t.settings[f.Name] { // --out and the like, the root's --log-level
			return
		}
		name := strings.ReplaceAll(f.Name, "-", "_")
		v, ok := given[name]
		if !ok { // omitted from the record as zero: given all the same
			switch f.Value.Type() {
			case "string":
				v = json.RawMessage(`""`)
			case "stringSlice":
				v = json.RawMessage(`[]`)
			default:
				v = json.RawMessage("0")
			}
		}
		fields[name] = v
	})
	b, _ = json.Marshal(fields)
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var spec api.JobSpec
	if err := dec.Decode(&spec); err != nil {
		where := "the flags"
		if t.ConfigFile != "" {
			where = "--config " + t.ConfigFile
		}
		return api.JobSpec{}, fmt.Errorf("train: %s: %w (the fields are graft train's flags in snake_case, e.g. batch_size)", where, err)
	}
	return spec, nil
}

// Resolve is the job the command line asks for: a new one, or with
// --resume the run's own settings and then what the flags change.
func (t *TrainJob) Resolve() (*job.Job, error) {
	spec, err := t.Spec()
	if err != nil {
		return nil, err
	}
	var j *job.Job
	if t.Resume != "" {
		j, err = job.ResumeDir(t.Resume, spec)
		if err == nil && t.fs.Changed("cache-dir") {
			j.CacheDir = t.CacheDir
		}
	} else {
		j, err = job.New(spec, job.Where{Out: t.Out, CacheDir: t.CacheDir})
	}
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	return j, nil
}

// Renderer shows a run's events: progress bars on a terminal (where the
// log then leaves out what the bars say, so each epoch is one line), JSON
// lines on out otherwise or with --log-format json.
type Renderer struct {
	Human    bool
	Progress func(api.Event)
}

// NewRenderer is the renderer the command's --log-format and stderr call
// for.
func NewRenderer(cmd *cobra.Command, out io.Writer) Renderer {
	format := logging.Auto
	if f := cmd.Flags().Lookup("log-format"); f != nil {
		format = f.Value.String()
	}
	if format != logging.JSON && logging.IsTerminal(os.Stderr) {
		return Renderer{Human: true, Progress: progress.New(os.Stderr, true).Event}
	}
	return Renderer{Progress: progress.New(out, false).Event}
}

// Done logs the end of a run.
func (r Renderer) Done(log *zap.Logger, out string, s *api.Summary) {
	if r.Human { // the bar's "done:" line already said which epoch is best
		log.Sugar().Infof("run %s, on %s", out, s.Device)
		return
	}
	log.Sugar().Infof("run %s: %s, on %s", out, s.Best(), s.Device)
}

// RunTrain runs the job tj resolved to in this process on ops (nil: the
// CPU), rendering its progress.
func RunTrain(cmd *cobra.Command, tj *TrainJob, j *job.Job, ops head.Ops, log *zap.Logger, out io.Writer) error {
	n, err := threads.Set(j.Threads)
	if err != nil {
		return err
	}
	log.Debug("threads", zap.Int("threads", n))
	r := NewRenderer(cmd, out)
	shards, err := tj.shardOptions(j)
	if err != nil {
		return err
	}
	s, err := train.RunJob(cmd.Context(), j, train.Options{Log: log, Ops: ops, Shown: r.Human, Progress: r.Progress, Resume: tj.Resume != "", MaxImagePixels: tj.MaxImagePixels, CacheMaxBytes: tj.CacheMaxBytes, Shards: shards})
	if err != nil {
		return err
	}
	r.Done(log, j.Out, s)
	return nil
}
