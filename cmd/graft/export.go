package main

import (
	"fmt"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/export"
)

func (a *app) exportCmd() *cobra.Command {
	var run, out string
	var setThreads func() (int, error)
	cmd := &cobra.Command{
		Use:   "export --run RUN --out DIR",
		Short: "Write a trained run as one SavedModel (backbone, preprocessing and head) that TensorFlow loads and serves",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := setThreads(); err != nil {
				return err
			}
			if run == "" || out == "" {
				return fmt.Errorf("export: give --run RUN (a finished training run) and --out DIR (a folder that does not exist yet)")
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
	cmd.Flags().StringVar(&out, "out", "", "the SavedModel folder to write (must not exist)")
	return cmd
}
