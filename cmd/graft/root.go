package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/graft-ml/graft/internal/base/logging"
	"github.com/graft-ml/graft/internal/cli"
)

// app carries what every command shares: the injected logger and stdout.
type app struct {
	log       *zap.Logger
	out       io.Writer
	logFormat string
	logLevel  string
}

func execute(args []string) int {
	a := &app{out: os.Stdout, log: zap.NewNop()}
	root := a.rootCmd()
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	_ = a.log.Sync()
	if err != nil {
		if logging.IsTerminal(os.Stderr) {
			logging.ScreenOf(os.Stderr).End() // the error below a bar, not on it
		}
		fmt.Fprint(os.Stderr, cli.ErrorText("graft", clientHints(err)))
		return 1
	}
	return 0
}

// rootCmd is graft with every command.
func (a *app) rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "graft",
		Short:         "Fine-tune a new head on a frozen TensorFlow SavedModel, on NVIDIA GPUs or the CPU",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			log, err := logging.New(os.Stderr, a.logFormat, a.logLevel)
			if err != nil {
				return err
			}
			a.log = log
			return nil
		},
	}
	root.SetFlagErrorFunc(cli.SuggestFlag)
	root.PersistentFlags().StringVar(&a.logFormat, "log-format", logging.Auto, "log format: auto (console on a terminal, else json), console or json")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.AddCommand(a.versionCmd(), a.devicesCmd(), a.benchCmd(), a.inspectCmd(), a.predictCmd(), a.trainCmd(), a.sweepCmd(), a.evalCmd(),
		a.serveCmd(), a.workerCmd(), a.jobsCmd(), a.modelsCmd(), a.exportCmd(), a.adminCmd(), a.cacheCmd())
	return root
}

func (a *app) printJSON(v any) error { return cli.PrintJSON(a.out, v) }
