package main

import (
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/api"
	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/base/memlimit"
	"github.com/graft-ml/graft/internal/base/progress"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/fit/train"
	"github.com/graft-ml/graft/internal/infer/evaluate"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/rundir"
)

func (a *app) evalCmd() *cobra.Command {
	var run, data, split, format, onBad string
	var maxPixels int64
	var setThreads func() (int, error)
	var readBudget func() (int64, bool, error)
	cmd := &cobra.Command{
		Use:   "eval --run RUN (--data DATA | --split val)",
		Short: "Score a trained run on labelled images: accuracy, per-class precision/recall/F1, confusion matrix",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := setThreads(); err != nil {
				return err
			}
			if run == "" || (data == "") == (split == "") {
				return fmt.Errorf("eval: give --run RUN and either --data DATA or --split val (the run's own validation samples)")
			}
			if format != "text" && format != "json" {
				return fmt.Errorf("eval: --format %q: use text or json", format)
			}
			budget, given, err := readBudget()
			if err != nil {
				return err
			}
			policy, err := dataset.ParsePolicy(onBad)
			if err != nil {
				return err
			}
			// --data before the backbone: a wrong path fails at once.
			var ds *dataset.Dataset
			if split == "" {
				var classes []string
				if err := rundir.ReadJSON(run, rundir.ClassesFile, &classes); err != nil {
					return runDirHint(run, err)
				}
				if ds, err = dataset.Open(data, dataset.Options{Classes: classes}); err != nil {
					return err
				}
				if s := ds.IgnoredSummary(); s != "" {
					a.log.Warn(s)
				}
			}
			t, err := predict.LoadRun(run)
			if err != nil {
				return runDirHint(run, err)
			}
			defer t.Close()
			if given {
				t.MemoryBudget = budget
			}
			if split != "" {
				if ds, err = t.Split(split); err != nil {
					return err
				}
			}
			ds.MaxPixels = maxPixels
			// The same extraction bar as training's, on a terminal only:
			// stdout carries the report.
			var bar func(done, total int)
			if logging.IsTerminal(os.Stderr) {
				r := progress.New(os.Stderr, true)
				bar = func(done, total int) {
					r.Event(train.Event{Kind: api.EventExtract, Split: "eval", Step: done, Steps: total})
				}
			}
			plan := t.Plan(ds.Len(), a.log)
			_, restore := memlimit.Set(t.HostBytes(ds.Len(), plan), a.log)
			defer restore()
			set, rep, err := t.FeaturesPlanned(cmd.Context(), ds, plan, policy, a.log, bar)
			if err != nil {
				return err
			}
			overlap, err := t.TrainingOverlap(cmd.Context(), set)
			if err != nil {
				return err
			}
			if overlap.Samples > 0 && split != rundir.SplitTrain {
				a.log.Warn(fmt.Sprintf("%d of %d evaluated samples are byte-identical to training samples (%d are the training files themselves): this score is inflated; score unseen data, or the run's validation samples with --split val", overlap.Samples, overlap.Of, overlap.SameFiles))
			}
			probs, err := t.Probabilities(set.Features, set.Len())
			if err != nil {
				return err
			}
			r := evaluate.ScoreProbabilities(t.Classes, set.Labels, probs)
			if format == "json" {
				return a.printJSON(struct {
					evaluate.Report
					BadFiles        []dataset.BadFile `json:"bad_files,omitempty"`
					TrainingOverlap predict.Overlap   `json:"training_overlap"`
				}{r, rep.Bad, overlap})
			}
			return a.printEval(r, rep.Bad)
		},
	}
	setThreads = threadsFlag(cmd)
	readBudget = budgetFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&run, "run", "", "run directory written by graft train")
	f.StringVar(&data, "data", "", "labelled images: folder, CSV or TFRecord, with the run's class names")
	f.StringVar(&split, "split", "", "instead of --data: the run's own samples, val (its validation split) or train")
	f.StringVar(&format, "format", "text", "text or json")
	f.StringVar(&onBad, "on-bad-file", "skip", "skip or fail")
	f.Int64Var(&maxPixels, "max-image-pixels", images.DefaultMaxPixels, "images with more pixels (read from the header, before decoding) are bad files")
	return cmd
}

// shownBadFiles is how many bad files the text report lists.
const shownBadFiles = 10

func (a *app) printEval(r evaluate.Report, bad []dataset.BadFile) error {
	fmt.Fprintf(a.out, "samples %d, accuracy %.4f, macro F1 %.4f", r.Samples, r.Accuracy, r.MacroF1)
	if len(bad) > 0 {
		fmt.Fprintf(a.out, " (%d bad files skipped)", len(bad))
	}
	fmt.Fprint(a.out, "\n\n")
	for i, b := range bad {
		if i == shownBadFiles {
			fmt.Fprintf(a.out, "  ... and %d more (--format json lists them all)\n", len(bad)-i)
			break
		}
		fmt.Fprintf(a.out, "  bad file %s: %s\n", cell(b.Path), cell(b.Reason))
	}
	if len(bad) > 0 {
		fmt.Fprintln(a.out)
	}
	tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "class\tprecision\trecall\tf1\tsupport")
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%s\t%.4f\t%.4f\t%.4f\t%d\n", cell(c.Name), c.Precision, c.Recall, c.F1, c.Support)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.out, "\nconfusion matrix (rows: true class, columns: predicted class)")
	tw = tabwriter.NewWriter(a.out, 2, 4, 1, ' ', tabwriter.AlignRight)
	fmt.Fprint(tw, "true \\ predicted\t")
	for _, c := range r.Classes {
		fmt.Fprintf(tw, "%s\t", cell(c.Name))
	}
	fmt.Fprintln(tw)
	for i, row := range r.Confusion {
		fmt.Fprintf(tw, "%s\t", cell(r.Classes[i].Name))
		for _, n := range row {
			fmt.Fprintf(tw, "%d\t", n)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}
