package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/base/devices"
)

func (a *app) devicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices graft can compute on: the CPU, and the GPUs graft-cuda sees",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := []devices.Device{devices.CPU()}
			gpus, gpuErr := devices.GPUs(cmd.Context())
			list = append(list, gpus...)
			if asJSON {
				return a.printJSON(list)
			}
			for _, d := range list {
				if d.Kind == "cpu" {
					fmt.Fprintf(a.out, "%-7s %s, %d cores, %.1f GiB, gemm %s\n", d.ID, d.Name, d.Cores, float64(d.MemoryBytes)/(1<<30), d.GEMM)
				} else {
					fmt.Fprintf(a.out, "%-7s %s, compute capability %s, %.1f GiB\n", d.ID, d.Name, d.ComputeCapability, float64(d.MemoryBytes)/(1<<30))
				}
			}
			if gpuErr != nil {
				fmt.Fprintf(a.out, "no GPU: %v\n", gpuErr)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
