package main

import (
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/graft-ml/graft/daemon/store"
)

// adminCmd looks after a daemon's job store: an online backup through the
// API, and an offline compaction of the file.
func (a *app) adminCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "admin", Short: "Back up a running graft serve's job store, or compact a stopped one's"}
	var force bool
	backup := &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the daemon's job store to FILE while jobs run (restore: stop graft serve, copy FILE to DATA/graft.db, start it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := cf.client().Backup(cmd.Context(), args[0], force); err != nil {
				return downloadHints(err)
			}
			fmt.Fprintf(a.out, "backed up the job store to %s\n", args[0])
			return nil
		},
	}
	cf.add(backup)
	backup.Flags().BoolVar(&force, "force", false, "overwrite FILE if it exists")
	var dataDir string
	compact := &cobra.Command{
		Use:   "compact [--data-dir DIR]",
		Short: "Compact a stopped daemon's job store (DATA/graft.db) into a dense file; refused while graft serve runs on it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path := filepath.Join(dataDir, "graft.db")
			before, after, err := store.Compact(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.out, "compacted %s: %d bytes, now %d\n", path, before, after)
			return nil
		},
	}
	compact.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "graft serve's data directory")
	cmd.AddCommand(backup, compact)
	return cmd
}
