package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/export"
)

func (a *app) exportCmd() *cobra.Command {
	var run, out string
	var o export.Options
	var setThreads func() (int, error)
	cmd := &cobra.Command{
		Use:   "export --run RUN --out DIR|FILE [--format savedmodel|onnx|tflite]",
		Short: "Write a trained run as one model (backbone, preprocessing and head): a SavedModel that TensorFlow serves, ONNX, or TFLite",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := setThreads(); err != nil {
				return err
			}
			if run == "" || out == "" {
				return fmt.Errorf("export: give --run RUN (a finished training run) and --out DIR (a folder that does not exist yet; a file for --format onnx or tflite)")
			}
			if err := export.Write(run, out, o); err != nil {
				return runDirHint(run, err)
			}
			switch o.Format {
			case export.FormatONNX:
				a.log.Info("exported", zap.String("run", run), zap.String("out", out), zap.String("format", o.Format),
					zap.String("io", export.InImages+" float32 NHWC 0..255 -> "+export.OutProbs+", "+export.OutClasses+" (opset 17)"))
			case export.FormatTFLite:
				a.log.Info("exported", zap.String("run", run), zap.String("out", out), zap.String("format", o.Format),
					zap.String("signature", "serving_default: "+export.InImages+" float32 0..255 [-1,H,W,C] -> "+export.OutProbs+", "+export.OutClasses+" (int32 index into the metadata "+export.LabelsMetadata+")"))
			default:
				a.log.Info("exported", zap.String("run", run), zap.String("out", out),
					zap.String("signatures", export.SigImages+" ("+export.InImages+" float32 0..255), "+export.SigBytes+" ("+export.InBytes+" PNG/JPEG)"))
			}
			fmt.Fprintln(a.out, out)
			return nil
		},
	}
	setThreads = threadsFlag(cmd)
	cmd.Flags().StringVar(&run, "run", "", "the trained run's directory")
	cmd.Flags().StringVar(&out, "out", "", "the SavedModel folder to write (must not exist), or the .onnx or .tflite file")
	cmd.Flags().StringVar(&o.Format, "format", export.FormatSavedModel, "what to write: "+strings.Join(export.Formats, ", "))
	cmd.Flags().BoolVar(&o.Force, "force", false, "replace an existing output file (--format onnx or tflite)")
	cmd.Flags().IntVar(&o.StaticBatch, "onnx-static-batch", 0, "fix the ONNX model's batch size (for TensorRT); 0: dynamic")
	cmd.Flags().StringVar(&o.Quantize, "quantize", "", "tflite only: float16 stores the weights as float16")
	return cmd
}
