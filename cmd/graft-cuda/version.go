//go:build graftcuda

package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/gpu"
	"github.com/graft-ml/graft/internal/base/buildinfo"
)

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version, build tags and the CUDA driver version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := struct {
				buildinfo.Info
				CUDADriver int `json:"cuda_driver_version"`
			}{buildinfo.Get(), gpu.DriverVersion()}
			if asJSON {
				return a.printJSON(info)
			}
			_, err := fmt.Fprintf(a.out, "graft-cuda %s\ncommit:      %s\ngo:          %s %s\nbuild tags:  %s\ncuda driver: %d.%d\n",
				info.Version, info.Commit, info.GoVersion, info.Platform, strings.Join(info.Tags, ","), info.CUDADriver/1000, info.CUDADriver%1000/10)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
