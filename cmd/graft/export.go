package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/export"
)

func (a *app) exportCmd() *cobra.Command {
	var run, out, format, quantize string
	var force bool
	var setThreads func() (int, error)
	cmd := &cobra.Command{
		Use:   "export --run RUN --out DIR|FILE [--format savedmodel|tflite]",
		Short: "Write a trained run as one SavedModel (backbone, preprocessing and head) that TensorFlow loads and serves, or as one TFLite file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := setThreads(); err != nil {
				return err
			}
			if run == "" || out == "" {
				return fmt.Errorf("export: give --run RUN (a finished training run) and --out DIR (a folder that does not exist yet)")
			}
			switch {
			case format == "tflite":
				return a.exportTFLite(run, out, quantize, force)
			case format != "savedmodel":
				return fmt.Errorf("export: --format %q: use savedmodel or tflite", format)
			case quantize != "" || force:
				return fmt.Errorf("export: --quantize and --force go with --format tflite")
			}
			if err := export.Run(run, out); err != nil {
				return runDirHint(run, err)
			}
			a.log.Info("exported", zap.String("run", run), zap.String("out", out),
				zap.String("signatures", export.SigImages+" ("+export.InImages+" float32 0..255), "+export.SigBytes+" ("+export.InBytes+" PNG/JPEG)"))
			fmt.Fprintln(a.out, out)
			return nil
		},
	}
	setThreads = threadsFlag(cmd)
	cmd.Flags().StringVar(&run, "run", "", "the trained run's directory")
	cmd.Flags().StringVar(&out, "out", "", "the SavedModel folder to write (must not exist), or the .tflite file")
	cmd.Flags().StringVar(&format, "format", "savedmodel", "savedmodel or tflite")
	cmd.Flags().StringVar(&quantize, "quantize", "", "tflite only: float16 stores the weights as float16")
	cmd.Flags().BoolVar(&force, "force", false, "tflite only: replace an existing file at --out")
	return cmd
}

func (a *app) exportTFLite(run, out, quantize string, force bool) error {
	if quantize != "" && quantize != "float16" {
		return fmt.Errorf("export: --quantize %q: use float16 (or leave it out for float32)", quantize)
	}
	if err := export.RunTFLite(run, out, export.TFLiteOptions{Float16: quantize == "float16", Force: force}); err != nil {
		return runDirHint(run, err)
	}
	a.log.Info("exported", zap.String("run", run), zap.String("out", out), zap.String("format", "tflite"),
		zap.String("signature", "serving_default: "+export.InImages+" float32 0..255 [-1,H,W,C] -> "+export.OutProbs+", "+export.OutClasses+" (int32 index into the metadata "+export.LabelsMetadata+")"))
	fmt.Fprintln(a.out, out)
	return nil
}
