package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/backbone/tf"
	"github.com/graft-ml/graft/internal/base/buildinfo"
)

// tensorFlowInfo is the TensorFlow engine's state in this binary.
type tensorFlowInfo struct {
	Built   bool   `json:"built"`
	Version string `json:"version,omitempty"`
	Library string `json:"library,omitempty"`
	Error   string `json:"error,omitempty"`
}

// tensorFlowVersion loads libtensorflow (in binaries with the engine) to
// report the version the engine would run.
func tensorFlowVersion() (string, tensorFlowInfo) {
	if !tf.Available {
		return "not built in (make build-tf builds a graft with it)", tensorFlowInfo{}
	}
	info := tensorFlowInfo{Built: true}
	v, err := tf.Version()
	if err != nil {
		info.Error = err.Error()
		return "engine built in, library not loaded: " + info.Error, info
	}
	info.Version = v
	info.Library, _ = tf.Load()
	return v + " (" + info.Library + ")", info
}

func (a *app) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print version, commit, Go version, build tags, the matrix backend and the TensorFlow the engine loads",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := buildinfo.Get()
			tfLine, tfInfo := tensorFlowVersion()
			if asJSON {
				return a.printJSON(struct {
					buildinfo.Info
					TensorFlow tensorFlowInfo `json:"tensorflow"`
				}{info, tfInfo})
			}
			tags := strings.Join(info.Tags, ",")
			if tags == "" {
				tags = "(none)"
			}
			gemmLine := info.GEMM
			if info.GEMMHint != "" {
				gemmLine += " (" + info.GEMMHint + ")"
			}
			_, err := fmt.Fprintf(a.out, "graft %s\ncommit:     %s\ngo:         %s %s\nbuild tags: %s\ngemm:       %s\ntensorflow: %s\ncuda:       not linked (GPU work runs in graft-cuda)\n",
				info.Version, info.Commit, info.GoVersion, info.Platform, tags, gemmLine, tfLine)
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
