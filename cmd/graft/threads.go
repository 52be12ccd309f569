package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/internal/util/threads"
)

// threadsFlag adds --threads to a command that runs a backbone or a head
// and returns a function that applies it (GOMAXPROCS, which the native
// engine, the head and decoding follow) and returns the count set, for
// the tensorflow engine's pools.
func threadsFlag(cmd *cobra.Command) func() (int, error) {
	n := cmd.Flags().Int("threads", 0, "threads to compute on (GOMAXPROCS and the engines' pools; 0: the CPUs this container may use)")
	return func() (int, error) {
		set, err := threads.Set(*n)
		if err != nil {
			return 0, fmt.Errorf("%s: --threads %d: use 0 (the CPUs this container may use) or more", cmd.Name(), *n)
		}
		return set, nil
	}
}
