package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/images"
	"github.com/graft-ml/graft/internal/logging"
	"github.com/graft-ml/graft/internal/progress"
	"github.com/graft-ml/graft/internal/train"
)

func (a *app) trainCmd() *cobra.Command {
	var c train.Config
	var resume string
	cmd := &cobra.Command{
		Use:   "train --backbone MODEL --tap TENSOR --data DATA --out RUN",
		Short: "Fine-tune a new head on a frozen SavedModel with your labelled images (or --resume RUN)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opts := train.Options{Log: a.log, Progress: progress.New(os.Stderr, true).Event}
			if !logging.IsTerminal(os.Stderr) {
				opts.Progress = progress.New(a.out, false).Event
			}
			if resume != "" {
				c.Out, opts.Resume = resume, true
				if !cmd.Flags().Changed("epochs") {
					c.Epochs = 0 // keep the run's own
				}
			}
			s, err := train.Run(cmd.Context(), c, opts)
			if err != nil {
				return err
			}
			a.log.Sugar().Infof("run %s: best epoch %d, val_accuracy %.4f", c.Out, s.BestEpoch, s.BestValAccuracy)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.Backbone, "backbone", "", "SavedModel directory of the frozen backbone")
	f.StringSliceVar(&c.Tags, "tags", []string{"serve"}, "meta graph tag set")
	f.StringVar(&c.Signature, "signature", "serving_default", "signature whose input feeds the images")
	f.StringVar(&c.Tap, "tap", "", "intermediate tensor the head reads: node:idx, a node inside a function, or a Keras layer name (graft inspect --tensors lists them)")
	f.StringVar(&c.Data, "data", "", "training images: a folder with one sub-folder per class, a CSV (path,label) or TFRecord files")
	f.StringVar(&c.Val, "val", "", "validation images (same forms as --data)")
	f.Float64Var(&c.ValSplit, "val-split", 0, "fraction of --data held out for validation, stratified and seeded (default 0.2 without --val)")
	f.StringVar(&c.Preprocess, "preprocess", images.Raw, fmt.Sprintf("image preprocessing: %v", images.Modes))
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
	f.StringVar(&c.Device, "device", "cpu", "cpu or auto")
	f.StringVar(&c.CacheDir, "cache-dir", "", `feature cache directory (default $GRAFT_CACHE_DIR or the user cache dir; "none" disables it)`)
	f.Int64Var(&c.MemoryBudget, "memory-budget", 4<<30, "bytes of features kept in memory; above it they stream from the cache")
	f.IntVar(&c.Workers, "workers", 0, "image decoding goroutines (default: one per core)")
	f.StringVar(&c.Out, "out", "", "run directory to create")
	f.StringVar(&resume, "resume", "", "continue the interrupted run in this directory (its config is used; --epochs may extend it)")
	return cmd
}
