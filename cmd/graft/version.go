package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/buildinfo"
)

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version, build tags and the matrix backend",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := buildinfo.Get()
			if asJSON {
				return a.printJSON(info)
			}
			tags := strings.Join(info.Tags, ",")
			if tags == "" {
				tags = "(none)"
			}
			gemmLine := info.GEMM
			if info.GEMMHint != "" {
				gemmLine += " (" + info.GEMMHint + ")"
			}
			_, err := fmt.Fprintf(a.out, "graft %s\ncommit:     %s\ngo:         %s %s\nbuild tags: %s\ngemm:       %s\ncuda:       not linked (GPU work runs in graft-cuda)\n",
				info.Version, info.Commit, info.GoVersion, info.Platform, tags, gemmLine)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
