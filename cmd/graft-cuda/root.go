//go:build graftcuda

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/cli"
)

// extraCommands are commands of optional builds (-tags tensorflow).
var extraCommands []func(*app) *cobra.Command

// app carries what every command shares.
type app struct {
	out io.Writer
}

func execute(args []string) int {
	a := &app{out: os.Stdout}
	root := &cobra.Command{
		Use:           "graft-cuda",
		Short:         "graft's GPU binary: list GPUs, train heads on them, benchmark the CUDA head",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(cli.SuggestFlag)
	root.AddCommand(a.versionCmd(), a.devicesCmd(), a.benchCmd(), a.trainCmd(), a.workerCmd())
	for _, c := range extraCommands {
		root.AddCommand(c(a))
	}
	root.SetArgs(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprint(os.Stderr, cli.ErrorText("graft-cuda", err))
		return 1
	}
	return 0
}

func (a *app) printJSON(v any) error { return cli.PrintJSON(a.out, v) }
