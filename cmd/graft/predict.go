package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/images"
	"github.com/graft-ml/graft/internal/predict"
	"github.com/graft-ml/graft/internal/train"
)

func (a *app) predictCmd() *cobra.Command {
	var o native.Options
	var model, run, mode, format, eng string
	var top, batch int
	cmd := &cobra.Command{
		Use:   "predict (--model MODEL | --run RUN) IMAGES...",
		Short: "Classify images with a trained run, or run a SavedModel signature (or tapped tensor) on them; top K per image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if (model == "") == (run == "") {
				return fmt.Errorf("predict: give --model MODEL or --run RUN")
			}
			if run != "" {
				if cmd.Flags().Changed("engine") {
					return fmt.Errorf("predict: --engine applies to --model; a run predicts with its own backbone settings")
				}
				return a.predictRun(cmd, run, paths, top, batch, format)
			}
			if format != "text" && format != "jsonl" {
				return fmt.Errorf("predict: --format %q: use text or jsonl", format)
			}
			if err := images.CheckMode(mode); err != nil {
				return err
			}
			if top < 1 || batch < 1 {
				return fmt.Errorf("predict: --top and --batch-size must be >= 1")
			}
			bb, err := engine.Open(eng, model, engine.Options{Options: o})
			if err != nil {
				return err
			}
			defer bb.Close()
			res, err := predict.Images(cmd.Context(), bb, paths, mode, batch)
			if err != nil {
				return err
			}
			return a.printPredictions(res, bb.Tap().Name, nil, top, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "SavedModel directory")
	f.StringVar(&run, "run", "", "run directory written by graft train (its backbone, tap, preprocessing and head)")
	f.StringSliceVar(&o.Tags, "tags", []string{"serve"}, "meta graph tag set")
	f.StringVar(&o.Signature, "signature", "serving_default", "signature key")
	f.StringVar(&o.Output, "output", "", "signature output key (default: the only output)")
	f.StringVar(&o.Tap, "tap", "", "an intermediate tensor to output instead: node:idx, a node inside a function, or a Keras layer name")
	f.StringVar(&eng, "engine", engine.Native, "backbone engine for --model: native (pure Go) or tensorflow (libtensorflow; binaries built with -tags tensorflow)")
	f.StringVar(&mode, "preprocess", images.Unit, fmt.Sprintf("input preprocessing: %v", images.Modes))
	f.IntVar(&top, "top", 5, "how many of the largest outputs to print per image")
	f.IntVar(&batch, "batch-size", 32, "images per forward pass")
	f.StringVar(&format, "format", "text", "text or jsonl (one JSON object per image)")
	return cmd
}

// printPredictions writes one block (text) or line (jsonl) per image; an
// image that could not be read gets its error instead of scores, and the
// command fails at the end so that scripts notice.
func (a *app) printPredictions(res []predict.Result, output string, labels []string, top int, format string) error {
	ranked := func(v []float32) []predict.Score {
		s := predict.TopK(v, top)
		for i := range s {
			if s[i].Index < len(labels) {
				s[i].Label = labels[s[i].Index]
			}
		}
		return s
	}
	failed := 0
	for _, r := range res {
		if r.Err != nil {
			failed++
		}
		if format == "jsonl" {
			line := map[string]any{"input": r.Input, "output": output}
			if r.Err != nil {
				line["error"] = r.Err.Error()
			} else {
				line["top"] = ranked(r.Output)
			}
			b, err := json.Marshal(line)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.out, string(b))
			continue
		}
		if r.Err != nil {
			fmt.Fprintf(a.out, "%s: error: %v\n", r.Input, r.Err)
			continue
		}
		fmt.Fprintf(a.out, "%s:\n", r.Input)
		for _, s := range ranked(r.Output) {
			fmt.Fprintf(a.out, "  %6d  %-12s %.6g\n", s.Index, s.Label, s.Score)
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images could not be read", failed, len(res))
	}
	return nil
}

// predictRun classifies images with a trained run.
func (a *app) predictRun(cmd *cobra.Command, run string, paths []string, top, batch int, format string) error {
	t, err := train.LoadRun(run)
	if err != nil {
		return err
	}
	defer t.Close()
	res, err := predict.Images(cmd.Context(), t.Classifier(), paths, t.Config.Preprocess, batch)
	if err != nil {
		return err
	}
	return a.printPredictions(res, "classes", t.Classes, top, format)
}
