package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/devices"
)

func (a *app) devicesCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "devices",
		Short: "List the devices graft can compute on",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			list := []devices.Device{devices.CPU()}
			if asJSON {
				return a.printJSON(list)
			}
			for _, d := range list {
				fmt.Fprintf(a.out, "%-6s %s, %d cores, %.1f GiB, gemm %s\n", d.ID, d.Name, d.Cores, float64(d.MemoryBytes)/(1<<30), d.GEMM)
			}
			_, err := fmt.Fprintln(a.out, "cuda   not available yet: GPU support comes with the graft-cuda binary")
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
