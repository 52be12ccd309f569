package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/graft-ml/graft/internal/base/closest"
)

// SuggestFlag is the root command's flag error function: an unknown
// flag gets the closest of the command's flags, as cobra already does
// for a mistyped command ("did you mean --epochs?").
func SuggestFlag(cmd *cobra.Command, err error) error {
	name, ok := strings.CutPrefix(err.Error(), "unknown flag: --")
	if !ok {
		return err
	}
	name, _, _ = strings.Cut(name, "=")
	var names []string
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if !f.Hidden {
			names = append(names, f.Name)
		}
	})
	cand := closest.Names(name, names, max(2, len(name)/4))
	if len(cand) == 0 {
		return fmt.Errorf("%w (%s --help lists the flags)", err, cmd.CommandPath())
	}
	return fmt.Errorf("%w: did you mean --%s?", err, cand[0])
}
