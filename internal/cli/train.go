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

	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/head"
	"github.com/graft-ml/graft/internal/images"
	"github.com/graft-ml/graft/internal/logging"
	"github.com/graft-ml/graft/internal/progress"
	"github.com/graft-ml/graft/internal/train"
)

// TrainJob is a `train` command's settings: the job's config and, with
// --resume, the run to continue.
type TrainJob struct {
	Config     train.Config
	Resume     string
	ConfigFile string
}

// TrainCommand is `train` for both binaries: graft trains on the CPU (or
// hands the job to graft-cuda), graft-cuda on a GPU. run does the work.
func TrainCommand(short string, run func(cmd *cobra.Command, job *TrainJob) error) *cobra.Command {
	job := &TrainJob{}
	cmd := &cobra.Command{
		Use:   "train --backbone MODEL --tap TENSOR --data DATA --out RUN",
		Short: short,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if job.ConfigFile != "" {
				if err := loadConfig(cmd.Flags(), job); err != nil {
					return err
				}
			}
			return run(cmd, job)
		},
	}
	c := &job.Config
	f := cmd.Flags()
	f.StringVar(&job.ConfigFile, "config", "", "a job spec as JSON (the daemon's job format, or a run's config.json); flags given too override it")
	f.StringVar(&c.Backbone, "backbone", "", "SavedModel directory of the frozen backbone")
	f.StringVar(&c.Engine, "engine", engine.Native, "backbone engine: native (pure Go) or tensorflow (libtensorflow; binaries built with -tags tensorflow)")
	f.StringSliceVar(&c.Tags, "tags", []string{"serve"}, "meta graph tag set")
	f.StringVar(&c.Signature, "signature", "serving_default", "signature whose input feeds the images")
	f.StringVar(&c.Tap, "tap", "", "intermediate tensor the head reads: node:idx, a node inside a function, or a Keras layer name (graft inspect --tensors lists them)")
	f.StringVar(&c.Data, "data", "", "training images: a folder with one sub-folder per class, a CSV (path,label) or TFRecord files")
	f.StringVar(&c.Val, "val", "", "validation images (same forms as --data)")
	f.Float64Var(&c.ValSplit, "val-split", 0, "fraction of --data held out for validation, stratified and seeded (default 0.2 without --val)")
	f.StringVar(&c.Preprocess, "preprocess", inspect.Auto, fmt.Sprintf("image preprocessing: auto (what the backbone's graph calls for; see graft inspect) or one of %v", images.Modes))
	f.StringVar(&c.OnBadFile, "on-bad-file", "skip", "unreadable or corrupt images: skip (and report) or fail")
	f.StringVar(&c.Head, "head", "conv:256", "head: conv:FILTERS[:KERNEL] or linear")
	f.Float64Var(&c.LabelSmoothing, "label-smoothing", 0, "label smoothing in [0, 1)")
	f.IntVar(&c.Epochs, "epochs", 10, "epochs")
	f.IntVar(&c.BatchSize, "batch-size", 32, "batch size")
	f.StringVar(&c.Optimizer, "optimizer", "adam", "adam, adamw or sgd (Keras defaults)")
	f.Float64Var(&c.LR, "lr", 0, "learning rate (default: the optimizer's, 1e-3 for Adam)")
	f.Float64Var(&c.WeightDecay, "weight-decay", 0, "decoupled weight decay on kernels (default 0.004 for adamw)")
	f.Float64Var(&c.Momentum, "momentum", 0, "SGD momentum (default 0.9)")
	f.StringVar(&c.Schedule, "schedule", "constant", "learning-rate schedule: constant, cosine, step or plateau")
	f.IntVar(&c.StepEvery, "step-every", 0, "step schedule: epochs between decays")
	f.Float64Var(&c.Gamma, "gamma", 0, "step/plateau schedules: decay factor (default 0.1)")
	f.IntVar(&c.PlateauPatience, "plateau-patience", 0, "plateau schedule: epochs without improvement before decaying (default 2)")
	f.IntVar(&c.EarlyStopping, "early-stopping", 0, "stop after this many epochs without improvement (0: off)")
	f.StringVar(&c.Monitor, "monitor", "val_loss", "metric for best checkpoint, early stopping and plateau: val_loss or val_accuracy")
	f.Float64Var(&c.MinDelta, "min-delta", 0, "smallest change that counts as an improvement")
	f.Uint64Var(&c.Seed, "seed", 0, "seed for initialisation, split and shuffling")
	f.StringVar(&c.Device, "device", "cpu", "cpu, cuda, cuda:N, or auto (a GPU when graft-cuda finds one, else the cpu)")
	f.Float64Var(&c.TFMemoryFraction, "tf-memory-fraction", 0, "tensorflow engine: cap on the fraction of GPU memory TensorFlow takes (0: none; it grows as needed either way)")
	f.StringVar(&c.CacheDir, "cache-dir", "", `feature cache directory (default $GRAFT_CACHE_DIR or the user cache dir; "none" disables it)`)
	f.Int64Var(&c.MemoryBudget, "memory-budget", 4<<30, "bytes of features kept in memory; above it they stream from the cache")
	f.IntVar(&c.Workers, "workers", 0, "image decoding goroutines (default: one per core)")
	f.StringVar(&c.Out, "out", "", "run directory to create")
	f.StringVar(&job.Resume, "resume", "", "continue the interrupted run in this directory (its config is used; --epochs may extend it)")
	return cmd
}

// RunTrain runs the job on ops (nil: the CPU), with progress bars on a
// terminal (where the log then leaves out what the bars say, so each epoch
// is one line) and JSON lines on out otherwise or with --log-format json.
func RunTrain(cmd *cobra.Command, job *TrainJob, ops head.Ops, log *zap.Logger, out io.Writer) error {
	c := job.Config
	format := logging.Auto
	if f := cmd.Flags().Lookup("log-format"); f != nil {
		format = f.Value.String()
	}
	human := format != logging.JSON && logging.IsTerminal(os.Stderr)
	opts := train.Options{Log: log, Ops: ops, Shown: human, Progress: progress.New(out, false).Event}
	if human {
		opts.Progress = progress.New(os.Stderr, true).Event
	}
	if job.Resume != "" {
		c.Out, opts.Resume = job.Resume, true
		if !cmd.Flags().Changed("epochs") {
			c.Epochs = 0 // keep the run's own
		}
	}
	s, err := train.Run(cmd.Context(), c, opts)
	if err != nil {
		return err
	}
	if human { // the bar's "done:" line already said which epoch is best
		log.Sugar().Infof("run %s, on %s", c.Out, s.Device)
		return nil
	}
	log.Sugar().Infof("run %s: %s, on %s", c.Out, s.Best(), s.Device)
	return nil
}

// loadConfig reads --config into the job, then puts back every flag the
// user gave: a spec file sets the defaults, the command line has the last
// word.
func loadConfig(fs *pflag.FlagSet, job *TrainJob) error {
	given := map[string]string{}
	fs.Visit(func(f *pflag.Flag) { given[f.Name] = f.Value.String() })
	raw, err := os.ReadFile(job.ConfigFile)
	if err != nil {
		return fmt.Errorf("train: --config: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&job.Config); err != nil {
		return fmt.Errorf("train: --config %s: %w (the fields are graft train's flags in snake_case, e.g. batch_size)", job.ConfigFile, err)
	}
	for name, v := range given {
		f := fs.Lookup(name)
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			err = sv.Replace(strings.Split(strings.Trim(v, "[]"), ","))
		} else {
			err = f.Value.Set(v)
		}
		if err != nil {
			return fmt.Errorf("train: --%s: %w", name, err)
		}
	}
	return nil
}
