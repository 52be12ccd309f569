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

// budgetFlag adds --memory-budget to a command that extracts features
// with a trained run (eval, predict --run) and returns a function that
// reads it, before the run loads: the budget and whether it was given
// (unset, the run's own memory_budget sizes the extraction, as in
// training: features.PlanJob).
func budgetFlag(cmd *cobra.Command) func() (int64, bool, error) {
	n := cmd.Flags().Int64("memory-budget", 0, "bytes whose eighth sizes the backbone's batches and the decoded images, as in graft train (default: the run's memory_budget; 0: no bound)")
	return func() (int64, bool, error) {
		if !cmd.Flags().Changed("memory-budget") {
			return 0, false, nil
		}
		if *n < 0 {
			return 0, false, fmt.Errorf("%s: --memory-budget %d: use 0 (no bound) or more bytes", cmd.Name(), *n)
		}
		return *n, true, nil
	}
}
