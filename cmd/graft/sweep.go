package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/cli"
	"github.com/graft-ml/graft/internal/fit/sweep"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/run/job"
)

func (a *app) sweepCmd() *cobra.Command {
	var vary []string
	var spaceFile, saveFeatures string
	var trials, parallel int
	cmd := cli.TrainCommand("Train many heads on features extracted once, over a grid or a seeded random sample of settings, and rank them",
		func(cmd *cobra.Command, tj *cli.TrainJob) error {
			if tj.Resume != "" {
				return errors.New("sweep: --resume continues one run: use graft train --resume on a trial's run directory")
			}
			base, err := tj.Spec()
			if err != nil {
				return err
			}
			space, err := sweep.Parse(vary, spaceFile)
			if base.Sweep != nil && len(vary) == 0 && spaceFile == "" {
				// A --config that is a sweep job's spec: its own space.
				space, err = sweep.Space(base.Sweep.Space), nil
				if !cmd.Flags().Changed("trials") {
					trials = base.Sweep.Trials
				}
				if !cmd.Flags().Changed("parallel") {
					parallel = base.Sweep.Parallel
				}
			}
			if err != nil {
				return err
			}
			base.Sweep = nil
			plan, err := sweep.NewPlan(base, space, trials, job.Where{Out: tj.Out, CacheDir: tj.CacheDir})
			if err != nil {
				return err
			}
			a.log.Info("sweep", zap.String("out", tj.Out), zap.Int("trials", len(plan.Jobs)), zap.Int("grid", space.Size()))
			r := cli.NewRenderer(cmd, a.out)
			opts := train.Options{Log: a.log, MaxImagePixels: tj.MaxImagePixels, CacheMaxBytes: tj.CacheMaxBytes}
			if r.Human { // the extraction's bar on stderr; stdout keeps the table
				opts.Progress, opts.Shown = r.Progress, true
			}
			board, err := sweep.Run(cmd.Context(), plan, train.SweepOptions{Options: opts, Parallel: parallel, SaveFeatures: saveFeatures, Done: func(t train.TrialResult) {
				if t.Err == nil {
					a.log.Info("trial done", zap.Int("trial", t.Trial), zap.String("settings", plan.Points[t.Trial].String()), zap.String("best", t.Summary.Best()), zap.Float64("seconds", t.Seconds))
				}
			}})
			if len(board.Trials) > 0 {
				if terr := board.Table(a.out); terr != nil && err == nil {
					err = terr
				}
			}
			return err
		})
	cmd.Use = "sweep --backbone MODEL --tap TENSOR --data DATA --out DIR (--vary KEY=V1,V2,... | --space FILE) [--trials N]"
	cmd.Flags().Lookup("out").Usage = "sweep directory to create: its trials/NNN are run directories, leaderboard.json ranks them, and it becomes a copy of the best run"
	cmd.Flags().Lookup("early-stopping").Usage = fmt.Sprintf("each trial stops after this many epochs without improvement (default %d in a sweep; 0: off)", sweep.DefaultPatience)
	cmd.Flags().StringArrayVar(&vary, "vary", nil, fmt.Sprintf("a setting to vary and its values, KEY=V1,V2,... (repeat for more keys); keys: %v", sweep.Keys))
	cmd.Flags().StringVar(&spaceFile, "space", "", `the settings to vary as JSON, e.g. {"lr": [0.001, 0.01], "head": ["conv:16", "linear"]} (--vary overrides a key)`)
	cmd.Flags().IntVar(&trials, "trials", 0, "train this many points of the grid, drawn with --seed (0: the whole grid)")
	cmd.Flags().IntVar(&parallel, "parallel", 0, "trials training at once (0: one per core, within --memory-budget beside the features)")
	cmd.Flags().StringVar(&saveFeatures, "save-features", "", "also write the features the trials share into this directory as NumPy arrays (train_x.npy, train_y.npy, val_x.npy, val_y.npy), for a peer to train on")
	return cmd
}
