package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/internal/base/hint"
	"github.com/graft-ml/graft/internal/data/images"
	"github.com/graft-ml/graft/internal/export"
	"github.com/graft-ml/graft/internal/infer/predict"
	"github.com/graft-ml/graft/internal/run/rundir"
)

// otherFormats are the export formats graft writes but does not read,
// by file extension, each with the runtime that does.
var otherFormats = map[string]struct{ name, runtime string }{
	".onnx":   {"ONNX", "onnxruntime (onnxruntime.InferenceSession), TensorRT or Triton run it"},
	".tflite": {"TFLite", "LiteRT (ai_edge_litert.interpreter.Interpreter) runs it"},
}

// notSavedModel refuses a model file in a format graft writes but does not
// read, saying what reads it.
func notSavedModel(model string) error {
	f, ok := otherFormats[strings.ToLower(filepath.Ext(model))]
	if !ok {
		return nil
	}
	if fi, err := os.Stat(model); err == nil && fi.IsDir() {
		return nil // a SavedModel folder may have any name
	}
	return hint.With(fmt.Errorf("predict: %s is a %s model: graft predicts with SavedModels only, not %s; %s", model, f.name, f.name, f.runtime),
		"predict with the run it was exported from (graft predict --run RUN), or with the SavedModel export (graft export --run RUN --out DIR)")
}

func (a *app) predictCmd() *cobra.Command {
	var o engine.Options
	var eng, model, run, mode, format string
	var top, batch int
	var maxPixels int64
	var setThreads func() (int, error)
	var readBudget func() (int64, bool, error)
	cmd := &cobra.Command{
		Use:   "predict (--model MODEL | --run RUN) IMAGES...",
		Short: "Classify images with a trained run, or run a SavedModel signature (or tapped tensor) on them; top K per image",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			var err error
			if o.Threads, err = setThreads(); err != nil {
				return err
			}
			if (model == "") == (run == "") {
				return fmt.Errorf("predict: give --model MODEL or --run RUN")
			}
			if run != "" {
				if batch < 1 {
					return fmt.Errorf("predict: --batch-size must be >= 1")
				}
				budget, given, err := readBudget()
				if err != nil {
					return err
				}
				if !given {
					budget = -1
				}
				if !cmd.Flags().Changed("batch-size") {
					batch = 0 // the plan's
				}
				return a.predictRun(cmd, run, paths, top, batch, budget, format, maxPixels)
			}
			if format != "text" && format != "jsonl" {
				return fmt.Errorf("predict: --format %q: use text or jsonl", format)
			}
			if mode != inspect.Auto {
				if err := images.CheckMode(mode); err != nil {
					return err
				}
			}
			if top < 1 || batch < 1 {
				return fmt.Errorf("predict: --top and --batch-size must be >= 1")
			}
			if err := notSavedModel(model); err != nil {
				return err
			}
			// A graft export has two outputs; its probabilities, with the
			// class names, are what predict shows.
			labels, exported := export.Exported(model, o.Tags, o.Signature)
			if exported && o.Output == "" && o.Tap == "" {
				o.Output = export.OutProbs
			}
			bb, err := engine.Open(eng, model, o)
			if err != nil {
				return err
			}
			defer bb.Close()
			n, err := inspect.DetectDir(nil, model, o.Tags, o.Signature)
			if err != nil {
				return err
			}
			ch := inspect.ChoosePreprocess(mode, n, nil)
			ch.Log(a.log)
			res, err := predict.Images(cmd.Context(), predict.FromBackbone(bb), paths, ch.Mode, batch, maxPixels)
			if err != nil {
				return err
			}
			if o.Output != export.OutProbs {
				labels = nil
			}
			return a.printPredictions(res, bb.Tap().Name, labels, top, format)
		},
	}
	setThreads = threadsFlag(cmd)
	readBudget = budgetFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&model, "model", "", "SavedModel directory")
	f.StringVar(&run, "run", "", "run directory written by graft train (its backbone, tap, preprocessing and head)")
	f.StringSliceVar(&o.Tags, "tags", []string{"serve"}, "meta graph tag set")
	f.StringVar(&o.Signature, "signature", "serving_default", "signature key")
	f.StringVar(&o.Output, "output", "", "signature output key (default: the only output)")
	f.StringVar(&o.Tap, "tap", "", "an intermediate tensor to output instead: node:idx, a node inside a function, or a Keras layer name")
	f.StringVar(&eng, "engine", engine.Native, "backbone engine for --model: native (pure Go) or tensorflow (libtensorflow; graft built with make build-tf)")
	f.StringVar(&o.Device, "device", "cpu", "device for the tensorflow engine: cpu, cuda, cuda:N or auto")
	f.StringVar(&mode, "preprocess", inspect.Auto, fmt.Sprintf("input preprocessing: auto (what the model's graph calls for; see graft inspect) or one of %v", images.Modes))
	f.IntVar(&top, "top", 5, "how many of the largest outputs to print per image")
	f.IntVar(&batch, "batch-size", 32, "images per forward pass (with --run, unset: sized from --memory-budget as in graft train)")
	f.StringVar(&format, "format", "text", "text or jsonl (one JSON object per image)")
	f.Int64Var(&maxPixels, "max-image-pixels", images.DefaultMaxPixels, "images with more pixels (read from the header, before decoding) are refused")
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
			fmt.Fprintf(a.out, "%s: error: %s\n", cell(r.Input), cell(r.Err.Error()))
			continue
		}
		fmt.Fprintf(a.out, "%s:\n", cell(r.Input))
		// Columns sized to this image's longest label.
		tw := tabwriter.NewWriter(a.out, 0, 4, 2, ' ', 0)
		for _, s := range ranked(r.Output) {
			fmt.Fprintf(tw, "  %6d\t%s\t%.6g\n", s.Index, cell(s.Label), s.Score)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("predict: %d of %d images could not be read", failed, len(res))
	}
	return nil
}

// predictRun classifies images with a trained run, batch images a
// forward pass (0: the run's extraction plan within budget, < 0: the
// run's memory_budget).
func (a *app) predictRun(cmd *cobra.Command, run string, paths []string, top, batch int, budget int64, format string, maxPixels int64) error {
	t, err := predict.LoadRun(run)
	if err != nil {
		return runDirHint(run, err)
	}
	defer t.Close()
	if budget >= 0 {
		t.MemoryBudget = budget
	}
	if batch == 0 {
		if batch = t.Plan(len(paths), a.log).Batch; batch == 0 {
			batch = 32 // a graph the plan cannot size: the flag's default
		}
	}
	res, err := predict.Images(cmd.Context(), t.Classifier(), paths, t.Config.Preprocess, batch, maxPixels)
	if err != nil {
		return err
	}
	return a.printPredictions(res, "classes", t.Classes, top, format)
}

// runDirHint adds to err, when run holds no run, what --run takes and
// how to make one.
func runDirHint(run string, err error) error {
	if !errors.Is(err, rundir.ErrRunDir) {
		return err
	}
	if _, serr := os.Stat(filepath.Join(run, rundir.ConfigFile)); !errors.Is(serr, fs.ErrNotExist) {
		return err
	}
	what := run + " holds no run"
	if _, serr := os.Stat(run); errors.Is(serr, fs.ErrNotExist) {
		what = run + " does not exist"
	}
	return hint.With(err, "%s: --run takes a run directory, the --out folder of graft train (config.json, classes.json, head.safetensors); make one with graft train --backbone MODEL --tap TAP --data DATA --out RUN", what)
}
