//go:build graftcuda

package main

import (
	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/gpu"
)

func (a *app) devicesCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "devices",
		Short: "Print the GPUs as JSON (id, name, compute capability, memory, multiprocessors, driver)",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			list, err := gpu.Devices()
			if err != nil {
				return err
			}
			return a.printJSON(list)
		},
	}
}
