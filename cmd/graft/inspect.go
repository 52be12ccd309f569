package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/backbone/engine"
	"github.com/graft-ml/graft/backbone/inspect"
	"github.com/graft-ml/graft/backbone/native"
	"github.com/graft-ml/graft/backbone/savedmodel"
	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/internal/data/dataset"
	"github.com/graft-ml/graft/internal/fit/train"
)

func (a *app) inspectCmd() *cobra.Command {
	var tags []string
	var tensors, all, asJSON bool
	var signature, eng, data string
	cmd := &cobra.Command{
		Use:   "inspect MODEL",
		Short: "Describe a SavedModel: signatures, variables, ops, suggested taps, and with --tensors the tensors you can tap",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := engine.Check(eng); err != nil {
				return err
			}
			r, err := inspect.Inspect(args[0], tags, tensors || all, signature)
			if err != nil {
				return err
			}
			if data != "" {
				if err := readStats(cmd.Context(), r, args[0], tags, signature, data); err != nil {
					return err
				}
			}
			if !all {
				r.Tensors = slices.DeleteFunc(r.Tensors, func(t inspect.Tensor) bool { return !t.Tappable })
			}
			var check *engineCheck
			if eng == engine.TensorFlow {
				if check, err = checkTensorFlow(args[0], tags, signature); err != nil {
					return err
				}
			}
			if asJSON {
				return a.printJSON(struct {
					*inspect.Report
					TensorFlow *engineCheck `json:"tensorflow_engine,omitempty"`
				}{r, check})
			}
			if err := printReport(a, r); err != nil {
				return err
			}
			if check != nil {
				_, err = fmt.Fprintf(a.out, "\ntensorflow engine: TensorFlow %s imports signature %s's flat graph: input %v, output %s %v\n",
					check.Version, signature, shapeText(check.Input), check.Output, shapeText(check.Shape))
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&tags, "tags", []string{"serve"}, "meta graph tag set")
	f.BoolVar(&tensors, "tensors", false, "list the tensors a head can tap (computed from the input; no weights, shape arithmetic or empty outputs), with the layer name --tap takes and their static shape")
	f.BoolVar(&all, "all", false, "with --tensors: list every tensor the signature computes")
	f.StringVar(&signature, "signature", "serving_default", "signature whose tensors --tensors lists")
	f.StringVar(&eng, "engine", engine.Native, "also check the signature on this engine: native, or tensorflow (imports the flat graph into libtensorflow)")
	f.StringVar(&data, "data", "", fmt.Sprintf("training data (as graft train --data takes it): when the graph does not normalise its input, --preprocess auto compares %d of its images, preprocessed each way, with the backbone's first batch-norm statistics; print the distances", train.StatsImages))
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// readStats redoes the report's auto choice with a sample of the data at
// dir, as graft train does.
func readStats(ctx context.Context, r *inspect.Report, model string, tags []string, signature, dir string) error {
	ds, err := dataset.Open(dir, dataset.Options{})
	if err != nil {
		return err
	}
	m, err := savedmodel.Load(model, tags...)
	if err != nil {
		return err
	}
	ch, _, st, err := train.Preprocessing(ctx, m, signature, inspect.Auto, ds, 0)
	if err != nil {
		return err
	}
	r.Preprocess, r.PreprocessStats = &ch, st
	return nil
}

// engineCheck is what inspect --engine tensorflow found: the signature's
// flat graph as TensorFlow imported it.
type engineCheck struct {
	Version string `json:"version"`
	Input   []int  `json:"input_shape"`
	Output  string `json:"output"`
	Shape   []int  `json:"output_shape"`
}

// checkTensorFlow imports the signature's flat graph into TensorFlow: an op
// or attr it cannot take is an error here, not at training time.
func checkTensorFlow(dir string, tags []string, signature string) (*engineCheck, error) {
	bb, err := engine.Open(engine.TensorFlow, dir, engine.Options{Options: native.Options{Tags: tags, Signature: signature}, Device: "cpu"})
	if err != nil {
		return nil, err
	}
	defer bb.Close()
	v, err := tf.Version()
	if err != nil {
		return nil, err
	}
	return &engineCheck{Version: v, Input: bb.Input().Shape, Output: bb.Tap().Name, Shape: bb.Tap().Shape}, nil
}

func printReport(a *app, r *inspect.Report) error {
	tw := tabwriter.NewWriter(a.out, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "model:\t%s\n", r.Path)
	fmt.Fprintf(tw, "tags:\t%s\n", strings.Join(r.Tags, ","))
	if r.TFVersion != "" {
		fmt.Fprintf(tw, "tensorflow:\t%s\n", r.TFVersion)
	}
	fmt.Fprintf(tw, "variables:\t%d (%s)\n", r.Variables, bytesHuman(r.VariableBytes))
	if r.Normalization != nil {
		fmt.Fprintf(tw, "input normalisation:\t%s\n", r.Normalization)
		fmt.Fprintf(tw, "--preprocess auto:\t%s (%s)\n", r.Preprocess.Mode, r.Preprocess.Reason)
	}
	if st := r.PreprocessStats; st != nil {
		fmt.Fprintf(tw, "\nbatch-norm statistics (%s, %d images; distance: symmetric KL, 0 = identical; auto needs the best %gx closer than the next):\n", st.Layer, st.Images, inspect.StatsMargin)
		for _, m := range inspect.Ranked(st) {
			fmt.Fprintf(tw, "  %s\t%.4g\n", m, st.Distances[m])
		}
	}
	fmt.Fprintln(tw, "\nsignatures:")
	for _, s := range r.Signatures {
		fmt.Fprintf(tw, "  %s\t%s\n", s.Key, s.Method)
		for _, t := range s.Inputs {
			fmt.Fprintf(tw, "    in\t%s\t%s\t%s\t%v\n", t.Key, t.Name, t.DType, shapeText(t.Shape))
		}
		for _, t := range s.Outputs {
			fmt.Fprintf(tw, "    out\t%s\t%s\t%s\t%v\n", t.Key, t.Name, t.DType, shapeText(t.Shape))
		}
		if s.Error != "" {
			fmt.Fprintf(tw, "    error\t%s\n", s.Error)
		}
	}
	fmt.Fprintln(tw, "\nops:")
	for _, o := range r.Ops {
		mark := "ok"
		if !o.Supported {
			mark = "UNSUPPORTED by the native engine"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", o.Op, o.Count, mark)
	}
	if len(r.Unsupported) == 0 {
		fmt.Fprintln(tw, "\nthe native engine runs every op of every signature")
	} else {
		fmt.Fprintf(tw, "\nunsupported ops: %s\n", strings.Join(r.Unsupported, ", "))
	}
	if len(r.Taps) > 0 {
		fmt.Fprintln(tw, "\nsuggested taps (the last feature maps before pooling, deepest first; --tap NAME):")
		for _, t := range r.Taps {
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", t.Name, shapeText(t.Shape), t.Tensor)
		}
	}
	if len(r.Tensors) > 0 {
		fmt.Fprintln(tw, "\ntensors (tap a tensor, or a layer for its last op, with --tap):")
		fmt.Fprintln(tw, "  layer\ttensor\top\tdtype\tshape")
		for _, t := range r.Tensors {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", cmp.Or(t.Layer, "-"), t.Name, t.Op, t.DType, shapeText(t.Shape))
		}
		if r.TensorsNote != "" {
			fmt.Fprintf(tw, "  (%s)\n", r.TensorsNote)
		}
	}
	return tw.Flush()
}

func shapeText(s []int) string {
	if s == nil {
		return "?"
	}
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
		if d < 0 {
			parts[i] = "?"
		}
	}
	return "[" + strings.Join(parts, " ") + "]"
}

func bytesHuman(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
