package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/internal/images"
	"github.com/graft-ml/graft/internal/predict"
)

func (a *app) predictCmd() *cobra.Command {
	var o native.Options
	var model, mode, format string
	var top, batch int
	cmd := &cobra.Command{
		Use:   "predict --model MODEL IMAGES...",
		Short: "Run a SavedModel signature (or a tapped tensor) on images and print the top K per image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			if model == "" {
				return fmt.Errorf("predict: --model is required")
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
			bb, err := native.Open(model, o)
			if err != nil {
				return err
			}
			defer bb.Close()
			res, err := predict.Images(cmd.Context(), bb, paths, mode, batch)
			if err != nil {
				return err
			}
			return a.printPredictions(res, bb.Tap().Name, top, format)
		},
	}
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "SavedModel directory")
	f.StringSliceVar(&o.Tags, "tags", []string{"serve"}, "meta graph tag set")
	f.StringVar(&o.Signature, "signature", "serving_default", "signature key")
	f.StringVar(&o.Output, "output", "", "signature output key (default: the only output)")
	f.StringVar(&o.Tap, "tap", "", "an intermediate tensor to output instead: node:idx, a node inside a function, or a Keras layer name")
	f.StringVar(&mode, "preprocess", images.Unit, fmt.Sprintf("input preprocessing: %v", images.Modes))
	f.IntVar(&top, "top", 5, "how many of the largest outputs to print per image")
	f.IntVar(&batch, "batch-size", 32, "images per forward pass")
	f.StringVar(&format, "format", "text", "text or jsonl (one JSON object per image)")
	return cmd
}

// printPredictions writes one block (text) or line (jsonl) per image; an
// image that could not be read gets its error instead of scores, and the
// command fails at the end so that scripts notice.
func (a *app) printPredictions(res []predict.Result, output string, top int, format string) error {
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
				line["top"] = predict.TopK(r.Output, top)
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
		for _, s := range predict.TopK(r.Output, top) {
			fmt.Fprintf(a.out, "  %6d  %.6g\n", s.Index, s.Score)
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images could not be read", failed, len(res))
	}
	return nil
}
